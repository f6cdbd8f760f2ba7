/** The parent side of the client fleet (bench/lib/fleet-process.ts): fork it, send commands, await replies. */
import { fork, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { fileURLToPath } from 'node:url';

export type FleetCommand =
  | { cmd: 'open'; wsUrl: string; token: string; agentId: string; count: number }
  | { cmd: 'arm'; expected: number }
  | { cmd: 'disarm' }
  | { cmd: 'close' }
  | { cmd: 'poll'; url: string; token: string; agentId: string; count: number; intervalMs: number; durationMs: number }
  | { cmd: 'exit' };

export type FleetReply =
  | { event: 'opened'; open: number }
  | { event: 'armed' }
  | { event: 'arrived'; times: number[] }
  | { event: 'closed' }
  | { event: 'polled'; requests: number; failures: number; seqsSeen: [number, number][][] }
  | { event: 'error'; message: string };

const ENTRY = fileURLToPath(new URL('./fleet-process.ts', import.meta.url));

/** Simulated browsers in their own Node process. */
export class Fleet {
  private constructor(private readonly child: ChildProcess) {}

  static async start(): Promise<Fleet> {
    const child = fork(ENTRY, [], {
      execPath: process.execPath,
      execArgv: ['--import', 'tsx'],
      stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
    });
    await once(child, 'spawn');
    return new Fleet(child);
  }

  /** Sends a command and resolves with the reply of type `event` (commands are answered in order). */
  request<E extends FleetReply['event']>(
    command: FleetCommand,
    event: E,
    timeoutMs = 300_000,
  ): Promise<Extract<FleetReply, { event: E }>> {
    const reply = this.next(event, timeoutMs);
    this.child.send(command);
    return reply;
  }

  /** The next reply of type `event`, listened for from now on; rejects after `timeoutMs` or on an error reply. */
  next<E extends FleetReply['event']>(event: E, timeoutMs: number): Promise<Extract<FleetReply, { event: E }>> {
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.child.off('message', onMessage);
        reject(new FleetTimeout(`Fleet: no ${event} within ${timeoutMs} ms`));
      }, timeoutMs);
      const onMessage = (reply: FleetReply) => {
        if (reply.event !== event && reply.event !== 'error') return;
        clearTimeout(timer);
        this.child.off('message', onMessage);
        if (reply.event === 'error') reject(new Error(`Fleet: ${reply.message}`));
        else resolve(reply as Extract<FleetReply, { event: E }>);
      };
      this.child.on('message', onMessage);
    });
  }

  async stop(): Promise<void> {
    if (this.child.exitCode !== null) return;
    const exited = once(this.child, 'exit');
    this.child.send({ cmd: 'exit' } satisfies FleetCommand);
    await exited;
  }
}

export class FleetTimeout extends Error {}
