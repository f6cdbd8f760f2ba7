/**
 * The parent side of the fan-out floor (bench/lib/floor-process.ts): the least any server on this machine can do to
 * deliver the stack's live messages to the same fleet, measured beside the stack in the same run.
 */
import { fork, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { fileURLToPath } from 'node:url';

export type FloorCommand =
  | { cmd: 'snapshot'; message: string }
  | { cmd: 'broadcast'; message: string }
  | { cmd: 'exit' };
export type FloorReply = { event: 'ready'; port: number } | { event: 'sent'; startedAt: number; rss: number };

const ENTRY = fileURLToPath(new URL('./floor-process.ts', import.meta.url));

export class FloorServer {
  /** The floor process's largest RSS seen after a broadcast. */
  peakRss = 0;

  private constructor(
    private readonly child: ChildProcess,
    readonly wsUrl: string,
  ) {}

  /** Forks the floor process; `snapshot` is the text it answers a subscribe with. */
  static async start(snapshot: string): Promise<FloorServer> {
    const child = fork(ENTRY, [], {
      execPath: process.execPath,
      execArgv: ['--import', 'tsx'],
      stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
    });
    const ready = FloorServer.reply(child, 'ready');
    child.send({ cmd: 'snapshot', message: snapshot } satisfies FloorCommand);
    const { port } = await ready;
    return new FloorServer(child, `ws://127.0.0.1:${port}`);
  }

  private static reply<E extends FloorReply['event']>(
    child: ChildProcess,
    event: E,
  ): Promise<Extract<FloorReply, { event: E }>> {
    return new Promise((resolve) => {
      const onMessage = (reply: FloorReply) => {
        if (reply.event !== event) return;
        child.off('message', onMessage);
        resolve(reply as Extract<FloorReply, { event: E }>);
      };
      child.on('message', onMessage);
    });
  }

  /** Writes `message` to every subscribed dashboard; resolves with the moment the floor started writing. */
  async broadcast(message: string): Promise<number> {
    const sent = FloorServer.reply(this.child, 'sent');
    this.child.send({ cmd: 'broadcast', message } satisfies FloorCommand);
    const { startedAt, rss } = await sent;
    this.peakRss = Math.max(this.peakRss, rss);
    return startedAt;
  }

  async stop(): Promise<void> {
    if (this.child.exitCode !== null) return;
    const exited = once(this.child, 'exit');
    this.child.send({ cmd: 'exit' } satisfies FloorCommand);
    await exited;
  }
}
