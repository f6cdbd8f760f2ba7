/**
 * The README's results table, printed at the end of `npm run bench` as Markdown ready to paste: each result next to
 * its floor from the same run, the targets met or missed, and the machine the run was taken on.
 */
import { type ColdStartResult, IMPORT_TARGET_MS } from '../suites/cold-start.ts';
import type { FanoutResult, LatencyResult, RoundsResult, ThroughputResult } from '../suites/live-status.ts';
import type { WatchResult } from '../suites/polling.ts';
import type { ProvisioningCounts } from '../suites/provisioning-counts.ts';
import type { WebhookResult } from '../suites/webhook.ts';
import { type Distribution, mb, ms, perSecond, times } from './stats.ts';

/** The targets (docs/BENCHMARKS.md), each also held against its floor measured in the same run. */
export const TARGETS = {
  latency: { clients: 1_000, p99Ms: 250, floorRatio: 5 },
  throughput: { connections: 5_000, perSecond: 4_000 },
  webhook: { floorRatio: 2 },
  rss: { connections: 5_000, bytes: 400 * 1024 * 1024 },
  importMs: IMPORT_TARGET_MS,
} as const;

export interface BenchResults {
  readonly latency: readonly LatencyResult[];
  readonly floorLatency: readonly RoundsResult[];
  readonly fanout: readonly FanoutResult[];
  readonly floorFanout: readonly ThroughputResult[];
  readonly webhook: WebhookResult;
  readonly ackFloor: WebhookResult;
  readonly coldStarts: readonly ColdStartResult[];
  readonly polling: WatchResult;
  readonly push: WatchResult;
  readonly counts: ProvisioningCounts;
}

export interface RunDescription {
  readonly mode: 'quick' | 'full';
  readonly cpus: number;
  readonly cpuModel: string;
  readonly memoryBytes: number;
  readonly node: string;
  readonly loadAverageBefore: readonly number[];
  readonly loadAverageAfter: readonly number[];
  readonly seconds: number;
  readonly commit: string;
  readonly finishedAt: string;
}

const count = (value: number) => Math.round(value).toLocaleString('en-US');
const verdict = (ok: boolean) => (ok ? 'met' : 'missed');
const range = (values: readonly number[], format: (value: number) => string) => {
  const low = Math.min(...values);
  const high = Math.max(...values);
  return low === high ? format(low) : `${format(low).replace(/ \w+$/, '')}-${format(high)}`;
};
const percentiles = ({ p50, p95, p99 }: Distribution) => `p50 ${ms(p50)}, p95 ${ms(p95)}, p99 ${ms(p99)}`;

export function readmeTable(results: BenchResults, run: RunDescription): string {
  const { latency: latencyTarget, throughput: throughputTarget, rss: rssTarget } = TARGETS;
  const rows: [string, string, string, string, string][] = [];

  for (const [index, result] of results.latency.entries()) {
    const floor = results.floorLatency[index]?.toClient;
    const ratio = floor === undefined ? NaN : result.toClient.p99 / floor.p99;
    const target =
      result.clients === latencyTarget.clients
        ? `p99 <= ${latencyTarget.p99Ms} ms and <= ${latencyTarget.floorRatio}x floor: ${verdict(
            result.toClient.p99 <= latencyTarget.p99Ms && ratio <= latencyTarget.floorRatio,
          )}`
        : '';
    rows.push([
      `callback -> browser, ${count(result.clients)} client${result.clients === 1 ? '' : 's'} (${count(result.toClient.count)} deliveries${result.lost > 0 ? `, ${count(result.lost)} lost` : ''})`,
      percentiles(result.toClient),
      floor === undefined ? '' : `p99 ${ms(floor.p99)}`,
      times(ratio),
      target,
    ]);
  }

  for (const [index, result] of results.fanout.entries()) {
    const floor = results.floorFanout[index];
    const targets =
      result.connections === throughputTarget.connections
        ? [
            `>= ${perSecond(throughputTarget.perSecond)}: ${verdict(result.messagesPerSecond >= throughputTarget.perSecond)}`,
            `RSS <= ${mb(rssTarget.bytes)}: ${verdict(result.memoryPeak.rss <= rssTarget.bytes)}`,
          ].join('; ')
        : '';
    rows.push([
      `fan-out, ${count(result.connections)} connections (${count(result.delivered)} deliveries)`,
      `${perSecond(result.messagesPerSecond)}; stack process RSS ${mb(result.memoryPeak.rss)} at peak`,
      floor === undefined ? '' : perSecond(floor.messagesPerSecond),
      floor === undefined ? '' : times(result.messagesPerSecond / floor.messagesPerSecond),
      targets,
    ]);
  }

  const { webhook, ackFloor } = results;
  const ackRatio = webhook.ack.p99 / ackFloor.ack.p99;
  rows.push([
    `Stripe webhook ack, ${webhook.senders} concurrent senders (${count(webhook.webhooks)} webhooks)`,
    `p50 ${ms(webhook.ack.p50)}, p99 ${ms(webhook.ack.p99)}, ${perSecond(webhook.webhooksPerSecond)}, ${webhook.failures} failed`,
    `p99 ${ms(ackFloor.ack.p99)} (bare TransactWriteItems)`,
    times(ackRatio),
    `p99 <= ${TARGETS.webhook.floorRatio}x floor: ${verdict(ackRatio <= TARGETS.webhook.floorRatio)}`,
  ]);

  // Grouped by size target: the functions that carry the Stripe SDK are held to the larger one.
  const groups = [...new Set(results.coldStarts.map(({ sizeTarget }) => sizeTarget))]
    .sort((a, b) => a - b)
    .map((sizeTarget) => results.coldStarts.filter((result) => result.sizeTarget === sizeTarget));
  const kilobytes = (bytes: number) => `${Math.round(bytes / 1024)} KB`;
  rows.push([
    `bundle size, ${groups.map((group) => `${group.length} function${group.length === 1 ? '' : 's'}`).join(' / ')}`,
    groups
      .map((group) =>
        range(
          group.map(({ bytes }) => bytes),
          kilobytes,
        ),
      )
      .join(' / '),
    '',
    '',
    `${groups.map((group) => `< ${kilobytes(group[0]?.sizeTarget ?? 0)}`).join(' / ')}: ${verdict(
      results.coldStarts.every(({ bytes, sizeTarget }) => bytes < sizeTarget),
    )}`,
  ]);
  const slow = results.coldStarts.filter(({ importMedianMs }) => importMedianMs >= TARGETS.importMs);
  const fast = results.coldStarts.filter(({ importMedianMs }) => importMedianMs < TARGETS.importMs);
  rows.push([
    '`import()` of each bundle in a fresh Node process (median)',
    [
      fast.length === 0
        ? ''
        : `${range(
            fast.map(({ importMedianMs }) => importMedianMs),
            ms,
          )} for ${fast.length}`,
      ...slow.map(({ name, importMedianMs }) => `${name} ${ms(importMedianMs)}`),
    ]
      .filter((part) => part !== '')
      .join('; '),
    '',
    '',
    `< ${TARGETS.importMs} ms: met for ${fast.length} of ${results.coldStarts.length}`,
  ]);

  const { polling, push } = results;
  const watch = (result: WatchResult) =>
    `${count(result.requestsPerMinute)} req/min at ${result.serverCpuCores.toFixed(2)} cores, change seen p50 ${ms(
      result.timeToSeeChange.p50,
    )} by ${count(result.timeToSeeChange.count)} of ${count(result.dashboards)}`;
  rows.push([
    `${count(polling.dashboards)} dashboards polling every 1 s vs push`,
    `${watch(polling)} vs ${watch(push)}`,
    '',
    '',
    '',
  ]);

  const { counts } = results;
  rows.push([
    'one provisioning, watched by one dashboard',
    `${counts.stateTransitions} state transitions, ${counts.invocationsTotal} Lambda invocations (${Object.entries(
      counts.invocations,
    )
      .map(([name, invocations]) => `${name} ${invocations}`)
      .join(
        ', ',
      )}), ${counts.itemWritesTotal} item writes, ${counts.webSocketMessages} messages to the dashboard (${counts.callbacks.heartbeats} of ${counts.callbacks.total} callbacks heartbeats, 1 s apart locally)`,
    '',
    '',
    '',
  ]);

  const load = (values: readonly number[]) => values.map((value) => value.toFixed(2)).join(' ');
  return [
    `${run.mode === 'full' ? 'Full' : 'Quick (not for the README)'} run of ${run.finishedAt.slice(0, 10)}, commit ` +
      `\`${run.commit}\`: ${run.cpus} CPUs (${run.cpuModel}), ${(run.memoryBytes / 1024 ** 3).toFixed(0)} GB RAM, ` +
      `Node ${run.node}, load average ${load(run.loadAverageBefore)} at the start and ${load(run.loadAverageAfter)} ` +
      `at the end, ${run.seconds.toFixed(0)} s.`,
    '',
    '| benchmark | result | floor (same run) | result / floor | target |',
    '|---|---|---|---|---|',
    ...rows.map((cells) => `| ${cells.join(' | ')} |`),
  ].join('\n');
}
