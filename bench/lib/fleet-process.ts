/**
 * The client fleet: a child process (forked by bench/lib/fleet.ts) that holds the simulated dashboards, WebSocket or
 * polling, so their CPU and memory are not counted as the server's. Commands and replies travel over the IPC channel.
 */
import type { ServerMessage } from '../../lambdas/domain/schemas.ts';
import { Dashboard, mapWithConcurrency, now } from './pipeline.ts';
import type { FleetCommand, FleetReply } from './fleet.ts';

const dashboards: Dashboard[] = [];
let armed: { readonly expected: number; readonly times: number[] } | undefined;

const reply = (message: FleetReply) => process.send?.(message);

function onLiveMessage(message: ServerMessage, at: number): void {
  if (message.type !== 'update' && message.type !== 'heartbeat') return;
  if (armed === undefined) return;
  armed.times.push(at);
  if (armed.times.length >= armed.expected) {
    reply({ event: 'arrived', times: armed.times });
    armed = undefined;
  }
}

/** A browser polling `GET /agents/{id}` with `If-None-Match`, noting when it first sees a new `seq`. */
async function poll(command: Extract<FleetCommand, { cmd: 'poll' }>): Promise<void> {
  const { url, token, agentId, count, intervalMs, durationMs } = command;
  const until = now() + durationMs;
  let requests = 0;
  let failures = 0;
  /** Per poller: each seq it saw, with when it first saw it. */
  const seqsSeen: [number, number][][] = [];
  const poller = async (index: number) => {
    // Spread the pollers over the interval, as independent browsers would be.
    await new Promise((resolve) => setTimeout(resolve, (index / count) * intervalMs));
    let etag: string | undefined;
    let seq: number | undefined;
    const seen: [number, number][] = [];
    seqsSeen.push(seen);
    while (now() < until) {
      const started = now();
      try {
        const response = await fetch(`${url}/agents/${agentId}`, {
          headers: { authorization: `Bearer ${token}`, ...(etag === undefined ? {} : { 'if-none-match': etag }) },
        });
        requests += 1;
        if (response.status === 200) {
          etag = response.headers.get('etag') ?? undefined;
          const body = (await response.json()) as { seq: number };
          if (body.seq !== seq) seen.push([body.seq, now()]);
          seq = body.seq;
        } else {
          await response.arrayBuffer();
          if (response.status !== 304) failures += 1;
        }
      } catch {
        failures += 1;
      }
      await new Promise((resolve) => setTimeout(resolve, Math.max(0, intervalMs - (now() - started))));
    }
  };
  await Promise.all(Array.from({ length: count }, (_, index) => poller(index)));
  reply({ event: 'polled', requests, failures, seqsSeen });
}

process.on('message', (command: FleetCommand) => {
  void (async () => {
    switch (command.cmd) {
      case 'open': {
        const opened = await mapWithConcurrency(Array.from({ length: command.count }), 25, async () => {
          const dashboard = await Dashboard.connect(command.wsUrl, command.token);
          dashboard.onMessage = onLiveMessage;
          await dashboard.subscribe(command.agentId);
          return dashboard;
        });
        dashboards.push(...opened);
        reply({ event: 'opened', open: dashboards.length });
        break;
      }
      case 'arm':
        armed = { expected: command.expected, times: [] };
        reply({ event: 'armed' });
        break;
      case 'disarm': {
        const times = armed?.times ?? [];
        armed = undefined;
        reply({ event: 'arrived', times });
        break;
      }
      case 'close':
        await mapWithConcurrency(dashboards.splice(0), 100, (dashboard) => dashboard.close());
        reply({ event: 'closed' });
        break;
      case 'poll':
        await poll(command);
        break;
      case 'exit':
        process.exit(0);
    }
  })().catch((error: unknown) =>
    reply({ event: 'error', message: error instanceof Error ? error.message : String(error) }),
  );
});
