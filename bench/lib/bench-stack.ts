/** The stack as the benchmarks run it, and the set-up the single-phase scripts share (bench/fanout-cpu.ts...). */
import { randomBytes } from 'node:crypto';
import { synthesizeTemplate } from '../../local/template.ts';
import { Fleet } from './fleet.ts';
import { paidAgent, type PaidAgent } from './pipeline.ts';
import { StackProcess } from './stack.ts';

/**
 * The local stack in a process of its own, so that its memory and CPU are the stack's alone (not the synthesis', the
 * floors', the fleet's), as `npm start` runs it; the fan-out in a worker thread, as a Lambda is its own process: its
 * SDK work (signing) leaves the gateway's thread.
 */
export async function startBenchStack(): Promise<StackProcess> {
  return StackProcess.start(
    {
      dataDir: null,
      port: 0,
      verbose: false,
      runnerStepMs: 200,
      runnerHeartbeatMs: 1_000,
      functionsInWorkers: ['fanout'],
    },
    await synthesizeTemplate(),
  );
}

/** Runs `phase` on a bench stack, a fleet and one paid `[manual]` agent named `name`, then stops both. */
export async function withPaidAgent(
  name: string,
  phase: (stack: StackProcess, fleet: Fleet, agent: PaidAgent) => Promise<void>,
): Promise<void> {
  const stack = await startBenchStack();
  const fleet = await Fleet.start();
  try {
    await phase(stack, fleet, await paidAgent(stack, `bench-${randomBytes(4).toString('hex')}`, `${name} [manual]`));
  } finally {
    await fleet.stop();
    await stack.stop();
  }
}
