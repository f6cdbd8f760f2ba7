/**
 * `npx tsx bench/fanout-cpu.ts [--connections N] [--messages M] [--rounds R]`: the stack process's CPU time per
 * fan-out delivery (every thread), the fan-out in its worker thread as `npm run bench` runs it. CPU time, not wall
 * time: it holds on a loaded machine, so a change to the twin can be measured before and after in the same conditions.
 * `BENCH_CPU_PROF=<dir>` writes the stack process's CPU profile (read it with bench/profile-top.ts).
 */
import { parseArgs } from 'node:util';
import { withPaidAgent } from './lib/bench-stack.ts';
import { growFleet, measureFanout } from './suites/live-status.ts';

const { values } = parseArgs({
  options: {
    connections: { type: 'string', default: '1000' },
    messages: { type: 'string', default: '10' },
    rounds: { type: 'string', default: '3' },
  },
});
const connections = Number(values.connections);
const messages = Number(values.messages);
const rounds = Number(values.rounds);

await withPaidAgent('Fan-out CPU', async (stack, fleet, agent) => {
  await growFleet(fleet, stack.wsUrl, agent, connections, 0);
  const { rss, heapUsed, cpuMicros: idleFrom } = await stack.call('usage');
  const idleWindowMs = 5_000;
  await new Promise((resolve) => setTimeout(resolve, idleWindowMs));
  const idleCpuShare = ((await stack.call('usage')).cpuMicros - idleFrom) / (idleWindowMs * 1000);
  console.log(`idle, ${connections} connections open: ${(idleCpuShare * 100).toFixed(1)} % of a core (stream pollers)`);
  const perDelivery: number[] = [];
  for (let round = 0; round < rounds; round += 1) {
    const result = await measureFanout(stack, fleet, agent, connections, messages, { rss, heapUsed });
    perDelivery.push(result.cpuMicrosPerDelivery);
    console.log(
      `round ${round + 1}: ${result.delivered} deliveries, ${result.cpuMicrosPerDelivery.toFixed(0)} µs CPU each`,
    );
  }
  const sorted = perDelivery.toSorted((a, b) => a - b);
  console.log(
    `stack CPU per delivery (${connections} connections x ${messages} messages): median ${sorted[Math.floor(sorted.length / 2)]?.toFixed(0)} µs`,
  );
  await fleet.request({ cmd: 'close' }, 'closed');
});
