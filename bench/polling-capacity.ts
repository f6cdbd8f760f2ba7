/**
 * `npx tsx bench/polling-capacity.ts [--sizes 100,200,400,1000] [--window 10]`: the polling baseline at growing
 * sizes. For each size, `size` dashboards poll `GET /agents/{id}` every second for the window with one change halfway
 * (bench/suites/polling.ts): the requests served per second against those asked for, the stack's CPU per request and
 * how many pollers saw the change. CPU per request holds on a loaded machine; the cores it takes at a size say where
 * the twin on this machine stops serving them.
 */
import { availableParallelism } from 'node:os';
import { parseArgs } from 'node:util';
import { withPaidAgent } from './lib/bench-stack.ts';
import { CallbackScript } from './suites/live-status.ts';
import { measurePolling } from './suites/polling.ts';

const { values } = parseArgs({
  options: { sizes: { type: 'string', default: '100,200,400,1000' }, window: { type: 'string', default: '10' } },
});
const sizes = values.sizes.split(',').map(Number);
const windowSeconds = Number(values.window);

await withPaidAgent('Polling capacity', async (stack, fleet, agent) => {
  const script = new CallbackScript(agent);
  for (const size of sizes) {
    const { cpuMicros } = await stack.call('usage');
    const result = await measurePolling(stack, fleet, agent, size, windowSeconds, script.nextStep());
    const cpuSeconds = ((await stack.call('usage')).cpuMicros - cpuMicros) / 1e6;
    const requests = (result.requestsPerMinute / 60) * result.windowSeconds;
    const cpuMsPerRequest = (cpuSeconds * 1000) / requests;
    console.log(
      `${size} pollers: ${(result.requestsPerMinute / 60).toFixed(0)} req/s served of ${size} asked, ` +
        `${cpuMsPerRequest.toFixed(2)} ms CPU per request (${result.serverCpuCores.toFixed(2)} cores), ` +
        `${result.failures} failed requests or pollers that missed the change, ` +
        `change seen p50 ${result.timeToSeeChange.p50.toFixed(0)} ms / p99 ${result.timeToSeeChange.p99.toFixed(0)} ms; ` +
        `${availableParallelism()} cores serve at most ${((availableParallelism() * 1000) / cpuMsPerRequest).toFixed(0)} req/s at this cost`,
    );
  }
});
