/**
 * `npm run bench [-- --quick]`: benchmarks of the local runtime (docs/BENCHMARKS.md). Prints a table and writes the
 * full results as JSON to bench/results/ (git-ignored). Timings are measurements, never assertions.
 */
import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { availableParallelism, loadavg, totalmem } from 'node:os';
import { resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { startBenchStack } from './lib/bench-stack.ts';
import { Fleet } from './lib/fleet.ts';
import { FloorServer } from './lib/floor-server.ts';
import { getAgent, paidAgent } from './lib/pipeline.ts';
import { type BenchResults, readmeTable, TARGETS } from './lib/readme-table.ts';
import { kb, markdownTable, mb, ms, perSecond, type ResultRow } from './lib/stats.ts';
import { measureColdStarts } from './suites/cold-start.ts';
import {
  CallbackScript,
  growFleet,
  measureFanout,
  measureLatency,
  measureStepsBesideLogs,
  measureRounds,
  measureThroughput,
  type FanoutResult,
  type LatencyResult,
  type RoundsResult,
  type ThroughputResult,
} from './suites/live-status.ts';
import { measurePolling, measurePush } from './suites/polling.ts';
import { countProvisioning } from './suites/provisioning-counts.ts';
import { measureAckFloor, measureWebhookAck } from './suites/webhook.ts';

interface Plan {
  readonly importRepetitions: number;
  readonly webhook: { senders: number; perSender: number };
  readonly watch: { dashboards: number; windowSeconds: number };
  readonly latency: readonly { clients: number; updates: number }[];
  readonly fanout: readonly { connections: number; messages: number }[];
  /** Fresh jobs whose five step updates are timed quiet, then beside 50 log lines a second each. */
  readonly stepsBesideLogs: { agents: number };
}

const FULL: Plan = {
  importRepetitions: 5,
  webhook: { senders: 50, perSender: 10 },
  watch: { dashboards: 1_000, windowSeconds: 20 },
  latency: [
    { clients: 1, updates: 1_000 },
    { clients: 100, updates: 100 },
    { clients: 1_000, updates: 20 },
  ],
  fanout: [
    { connections: 1_000, messages: 10 },
    { connections: 5_000, messages: 3 },
  ],
  stepsBesideLogs: { agents: 8 },
};

const QUICK: Plan = {
  importRepetitions: 1,
  webhook: { senders: 50, perSender: 2 },
  watch: { dashboards: 200, windowSeconds: 6 },
  latency: [
    { clients: 1, updates: 100 },
    { clients: 100, updates: 10 },
  ],
  fanout: [{ connections: 200, messages: 5 }],
  stepsBesideLogs: { agents: 2 },
};

const {
  latency: LATENCY_TARGET,
  throughput: THROUGHPUT_TARGET,
  webhook: WEBHOOK_TARGET,
  rss: RSS_TARGET,
  importMs: IMPORT_TARGET_MS,
} = TARGETS;

const PROJECT_ROOT = resolve(import.meta.dirname, '..');
const RESULTS_DIR = resolve(PROJECT_ROOT, 'bench/results');

function machine() {
  const cpuModel = /^model name\s*:\s*(.+)$/m.exec(readFileSync('/proc/cpuinfo', 'utf8'))?.[1] ?? 'unknown';
  return {
    nproc: availableParallelism(),
    memoryBytes: totalmem(),
    cpuModel,
    node: process.version,
    platform: `${process.platform} ${process.arch}`,
  };
}

/** The commit the run measured, `+changes` when the work tree differs from it. */
function commit(): string {
  const git = (...args: string[]) => execFileSync('git', args, { cwd: PROJECT_ROOT, encoding: 'utf8' }).trim();
  try {
    return `${git('rev-parse', '--short=8', 'HEAD')}${git('status', '--porcelain', '--untracked-files=no') === '' ? '' : '+changes'}`;
  } catch {
    return 'unknown';
  }
}

const log = (line: string) => console.log(`[bench ${new Date().toISOString().slice(11, 19)}] ${line}`);

async function main(): Promise<void> {
  const { values } = parseArgs({ options: { quick: { type: 'boolean', default: false } } });
  const plan = values.quick ? QUICK : FULL;
  const run = randomBytes(4).toString('hex');
  const started = performance.now();
  const loadBefore = loadavg();
  mkdirSync(RESULTS_DIR, { recursive: true });
  const rows: ResultRow[] = [];

  log('cold-start proxies: bundling each function, timing import() in fresh processes');
  const coldStarts = await measureColdStarts(RESULTS_DIR, plan.importRepetitions);
  for (const result of coldStarts) {
    rows.push({
      benchmark: 'cold start',
      metric: `${result.name} bundle`,
      value: kb(result.bytes),
      target: `< ${kb(result.sizeTarget)}`,
      ok: result.bytes < result.sizeTarget,
    });
    rows.push({
      benchmark: 'cold start',
      metric: `${result.name} import() median`,
      value: ms(result.importMedianMs),
      target: `< ${IMPORT_TARGET_MS} ms`,
      ok: result.importMedianMs < IMPORT_TARGET_MS,
    });
  }

  log('starting the local stack');
  const stack = await startBenchStack();
  const fleet = await Fleet.start();
  const results: Record<string, unknown> = { coldStarts };
  let table: BenchResults;
  try {
    log('provisioning counts: one agent through the local workflow runner');
    const counts = await countProvisioning(stack, fleet, run);
    results.provisioningCounts = counts;
    rows.push({ benchmark: 'provisioning', metric: 'state transitions', value: String(counts.stateTransitions) });
    rows.push({
      benchmark: 'provisioning',
      metric: `Lambda invocations (${Object.entries(counts.invocations)
        .map(([name, count]) => `${name} ${count}`)
        .join(', ')})`,
      value: String(counts.invocationsTotal),
    });
    rows.push({ benchmark: 'provisioning', metric: 'DynamoDB item writes', value: String(counts.itemWritesTotal) });
    rows.push({
      benchmark: 'provisioning',
      metric: 'WebSocket messages per dashboard',
      value: String(counts.webSocketMessages),
    });

    log(`Stripe webhook: ${plan.webhook.senders} concurrent senders x ${plan.webhook.perSender}`);
    const { agentIdsBySender, ...webhook } = await measureWebhookAck(
      stack,
      plan.webhook.senders,
      plan.webhook.perSender,
      run,
    );
    log(`ack floor: the same senders, one bare TransactWriteItems of the same items each`);
    const ackFloor = await measureAckFloor(stack, { agentIdsBySender, ...webhook }, run);
    results.webhook = webhook;
    results.ackFloor = ackFloor;
    rows.push({
      benchmark: 'webhook ack',
      metric: `p50 / p99, ${webhook.senders} senders, ${webhook.webhooks} webhooks (floor: ${ackFloor.itemsPerTransaction} items, ${kb(ackFloor.bytesPerTransaction)} per transaction)`,
      value: `${ms(webhook.ack.p50)} / ${ms(webhook.ack.p99)}`,
      floor: `${ms(ackFloor.ack.p50)} / ${ms(ackFloor.ack.p99)}`,
      ratio: webhook.ack.p99 / ackFloor.ack.p99,
      target: `p99 <= ${WEBHOOK_TARGET.floorRatio}x floor`,
      ok: webhook.ack.p99 <= WEBHOOK_TARGET.floorRatio * ackFloor.ack.p99,
    });
    rows.push({
      benchmark: 'webhook ack',
      metric: 'ack -> provisioning execution started (by the execution-starter, from the stream) p50 / p99',
      value: `${ms(webhook.ackToExecution.p50)} / ${ms(webhook.ackToExecution.p99)}`,
    });
    rows.push({
      benchmark: 'webhook ack',
      metric: 'throughput (failures)',
      value: `${perSecond(webhook.webhooksPerSecond)} (${webhook.failures})`,
      floor: `${perSecond(ackFloor.webhooksPerSecond)} (${ackFloor.failures})`,
      ratio: webhook.webhooksPerSecond / ackFloor.webhooksPerSecond,
    });

    const agent = await paidAgent(stack, `bench-live-${run}`, 'Live status [manual]');
    const script = new CallbackScript(agent);

    log(`polling baseline: ${plan.watch.dashboards} dashboards polling every 1 s for ${plan.watch.windowSeconds} s`);
    const polling = await measurePolling(
      stack,
      fleet,
      agent,
      plan.watch.dashboards,
      plan.watch.windowSeconds,
      script.nextStep(),
    );

    // The floors first, while the stack holds no dashboards: the same fleet, the same counts, the same messages.
    const view = await getAgent(stack, agent.token, agent.agentId);
    const floor = await FloorServer.start(JSON.stringify({ type: 'snapshot', ...view }));
    const heartbeat = () =>
      JSON.stringify({ type: 'heartbeat', agentId: agent.agentId, jobId: agent.jobId, at: new Date().toISOString() });
    const floorLatency: RoundsResult[] = [];
    const floorFanout: (ThroughputResult & { rss: number })[] = [];
    try {
      let floorOpen = 0;
      for (const { clients, updates } of plan.latency) {
        log(`floor, server -> browser: ${updates} messages to ${clients} client(s)`);
        floorOpen = await growFleet(fleet, floor.wsUrl, agent, clients, floorOpen);
        floorLatency.push(await measureRounds(fleet, clients, updates, () => floor.broadcast(heartbeat())));
      }
      for (const { connections, messages } of plan.fanout) {
        log(`floor, fan-out: ${messages} messages to ${connections} connections`);
        floorOpen = await growFleet(fleet, floor.wsUrl, agent, connections, floorOpen);
        floorFanout.push({
          ...(await measureThroughput(fleet, connections, messages, () => floor.broadcast(heartbeat()))),
          rss: floor.peakRss,
        });
      }
      await fleet.request({ cmd: 'close' }, 'closed');
    } finally {
      await floor.stop();
    }
    results.floors = { latency: floorLatency, fanout: floorFanout };

    const { rss, heapUsed } = await stack.call('usage');
    const memoryBefore = { rss, heapUsed };
    const latency: LatencyResult[] = [];
    const fanout: FanoutResult[] = [];
    let open = 0;
    for (const { clients, updates } of plan.latency) {
      log(`callback -> browser: ${updates} updates to ${clients} client(s)`);
      open = await growFleet(fleet, stack.wsUrl, agent, clients, open);
      // One step is kept for the push window, so both windows show the same kind of change.
      latency.push(await measureLatency(stack, fleet, script, clients, updates, 1));
    }
    log(`push: ${plan.watch.dashboards} subscribed dashboards for ${plan.watch.windowSeconds} s`);
    open = await growFleet(fleet, stack.wsUrl, agent, plan.watch.dashboards, open);
    const push = await measurePush(stack, fleet, open, plan.watch.windowSeconds, script.nextStep());
    for (const { connections, messages } of plan.fanout) {
      log(`fan-out: ${messages} messages to ${connections} connections`);
      open = await growFleet(fleet, stack.wsUrl, agent, connections, open);
      fanout.push(await measureFanout(stack, fleet, agent, connections, messages, memoryBefore));
    }
    await fleet.request({ cmd: 'close' }, 'closed');
    // On an idle stack again, one dashboard per job.
    log(`step updates of ${plan.stepsBesideLogs.agents} jobs each, quiet and beside 50 log lines a second`);
    const besideLogs = await measureStepsBesideLogs(stack, fleet, run, plan.stepsBesideLogs.agents);
    results.stepsBesideLogs = besideLogs;
    rows.push({
      benchmark: 'callback -> browser',
      metric: `step updates, the job printing ${besideLogs.linesPerSecond} log lines/s (floor: the same run quiet) p50 / p99 (${besideLogs.logging.count} + ${besideLogs.quiet.count} updates, ${besideLogs.logBatches} log batches${besideLogs.lost > 0 ? `, ${besideLogs.lost} lost` : ''})`,
      value: `${ms(besideLogs.logging.p50)} / ${ms(besideLogs.logging.p99)}`,
      floor: `${ms(besideLogs.quiet.p50)} / ${ms(besideLogs.quiet.p99)}`,
      ratio: besideLogs.logging.p99 / besideLogs.quiet.p99,
    });
    await fleet.request({ cmd: 'close' }, 'closed');
    results.latency = latency;
    results.watch = { polling, push };
    results.fanout = fanout;

    const percentiles = ({ p50, p95, p99 }: { p50: number; p95: number; p99: number }) =>
      `${ms(p50)} / ${ms(p95)} / ${ms(p99)}`;
    for (const [index, result] of latency.entries()) {
      const { toClient: all, toLastClient: last } = result;
      const floorRounds = floorLatency[index];
      const targeted = result.clients === LATENCY_TARGET.clients && floorRounds !== undefined;
      rows.push({
        benchmark: 'callback -> browser',
        metric: `${result.clients} client(s): p50 / p95 / p99 (${all.count} deliveries of ${result.updates} updates${result.lost > 0 ? `, ${result.lost} lost` : ''})`,
        value: percentiles(all),
        ...(floorRounds === undefined
          ? {}
          : { floor: percentiles(floorRounds.toClient), ratio: all.p99 / floorRounds.toClient.p99 }),
        ...(targeted
          ? {
              target: `p99 <= ${LATENCY_TARGET.p99Ms} ms and <= ${LATENCY_TARGET.floorRatio}x floor`,
              ok: all.p99 <= LATENCY_TARGET.p99Ms && all.p99 <= LATENCY_TARGET.floorRatio * floorRounds.toClient.p99,
            }
          : {}),
      });
      if (result.clients > 1) {
        rows.push({
          benchmark: 'callback -> browser',
          metric: `${result.clients} clients: last client p50 / p99`,
          value: `${ms(last.p50)} / ${ms(last.p99)}`,
          ...(floorRounds === undefined
            ? {}
            : {
                floor: `${ms(floorRounds.toLastClient.p50)} / ${ms(floorRounds.toLastClient.p99)}`,
                ratio: last.p99 / floorRounds.toLastClient.p99,
              }),
        });
      }
    }
    for (const [index, result] of fanout.entries()) {
      const floorResult = floorFanout[index];
      rows.push({
        benchmark: 'fan-out',
        metric: `${result.connections} connections: messages delivered/s`,
        value: perSecond(result.messagesPerSecond),
        ...(floorResult === undefined
          ? {}
          : {
              floor: perSecond(floorResult.messagesPerSecond),
              ratio: result.messagesPerSecond / floorResult.messagesPerSecond,
            }),
        ...(result.connections === THROUGHPUT_TARGET.connections
          ? {
              target: `>= ${perSecond(THROUGHPUT_TARGET.perSecond)}`,
              ok: result.messagesPerSecond >= THROUGHPUT_TARGET.perSecond,
            }
          : {}),
      });
      rows.push({
        benchmark: 'fan-out',
        metric: `${result.connections} connections: stack process CPU per delivery (every thread)`,
        value: `${result.cpuMicrosPerDelivery.toFixed(0)} µs`,
      });
      rows.push({
        benchmark: 'fan-out',
        metric: `${result.connections} connections: stack RSS idle -> connected -> peak (heap peak); floor: its server's RSS`,
        value: `${mb(result.memoryBefore.rss)} -> ${mb(result.memoryConnected.rss)} -> ${mb(result.memoryPeak.rss)} (${mb(result.memoryPeak.heapUsed)})`,
        ...(floorResult === undefined
          ? {}
          : { floor: mb(floorResult.rss), ratio: result.memoryPeak.rss / floorResult.rss }),
        ...(result.connections === RSS_TARGET.connections
          ? { target: `peak <= ${mb(RSS_TARGET.bytes)}`, ok: result.memoryPeak.rss <= RSS_TARGET.bytes }
          : {}),
      });
      const { rss, heapTotal, heapUsed, external, rssAnonymous, rssFile } = result.memoryAfter;
      rows.push({
        benchmark: 'fan-out',
        metric: `${result.connections} connections: stack RSS after delivery = anonymous (main thread's V8 heap committed / used, Buffers; the rest is other threads' heaps and native memory) + file-backed`,
        value: `${mb(rss)} = ${mb(rssAnonymous)} (${mb(heapTotal)} / ${mb(heapUsed)}, ${mb(external)}) + ${mb(rssFile)}`,
      });
    }
    table = { latency, floorLatency, fanout, floorFanout, webhook, ackFloor, coldStarts, polling, push, counts };
    for (const watch of [polling, push]) {
      rows.push({
        benchmark: `${watch.mode} (${watch.dashboards} dashboards)`,
        metric: 'requests/min',
        value: Math.round(watch.requestsPerMinute).toLocaleString('en-US'),
      });
      rows.push({
        benchmark: `${watch.mode} (${watch.dashboards} dashboards)`,
        metric: 'server CPU (cores busy)',
        value: watch.serverCpuCores.toFixed(2),
      });
      rows.push({
        benchmark: `${watch.mode} (${watch.dashboards} dashboards)`,
        metric: `time to see a change p50 / p99${watch.failures > 0 ? ` (${watch.failures} missed or failed)` : ''}`,
        value: `${ms(watch.timeToSeeChange.p50)} / ${ms(watch.timeToSeeChange.p99)}`,
      });
    }
  } finally {
    await fleet.stop();
    await stack.stop();
  }

  const output = {
    run,
    mode: values.quick ? ('quick' as const) : ('full' as const),
    commit: commit(),
    finishedAt: new Date().toISOString(),
    seconds: (performance.now() - started) / 1000,
    machine: { ...machine(), loadAverageBefore: loadBefore, loadAverageAfter: loadavg() },
    plan,
    results,
    table: rows,
  };
  const file = resolve(RESULTS_DIR, `bench-${output.finishedAt.replace(/[:.]/g, '-')}.json`);
  writeFileSync(file, JSON.stringify(output, null, 2));
  writeFileSync(resolve(RESULTS_DIR, 'latest.json'), JSON.stringify(output, null, 2));
  const { nproc, memoryBytes, cpuModel, loadAverageAfter } = output.machine;
  console.log(`\n${markdownTable(rows)}\n`);
  console.log(
    `Machine: ${nproc} CPUs (${cpuModel}), ${mb(memoryBytes)} RAM, Node ${process.version}, load ${loadBefore.map((value) => value.toFixed(1)).join(' ')}`,
  );
  console.log(`Run ${run} (${output.mode}) took ${output.seconds.toFixed(0)} s; results: ${file}`);
  console.log('\nREADME results table (docs/BENCHMARKS.md, "Results"):\n');
  console.log(
    readmeTable(table, {
      mode: output.mode,
      cpus: nproc,
      cpuModel,
      memoryBytes,
      node: process.version,
      loadAverageBefore: loadBefore,
      loadAverageAfter,
      seconds: output.seconds,
      commit: output.commit,
      finishedAt: output.finishedAt,
    }),
  );
}

main().catch((error: unknown) => {
  console.error(error);
  process.exitCode = 1;
});
