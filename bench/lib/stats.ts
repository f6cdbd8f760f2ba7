/** Percentiles and the printed table of the benchmark run. */

export interface Distribution {
  readonly count: number;
  readonly p50: number;
  readonly p95: number;
  readonly p99: number;
  readonly max: number;
  readonly mean: number;
}

/** Nearest-rank percentiles of `samples` (milliseconds, any order). */
export function distribution(samples: readonly number[]): Distribution {
  if (samples.length === 0) return { count: 0, p50: NaN, p95: NaN, p99: NaN, max: NaN, mean: NaN };
  const sorted = [...samples].sort((a, b) => a - b);
  const rank = (p: number) =>
    sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1))] as number;
  const mean = sorted.reduce((sum, value) => sum + value, 0) / sorted.length;
  return {
    count: sorted.length,
    p50: rank(50),
    p95: rank(95),
    p99: rank(99),
    max: sorted[sorted.length - 1] as number,
    mean,
  };
}

export const median = (samples: readonly number[]): number => distribution(samples).p50;

/** One row of the summary table: what was measured, the value, its floor when there is one, and the target. */
export interface ResultRow {
  readonly benchmark: string;
  readonly metric: string;
  readonly value: string;
  /** The same measure taken on the floor (the least this machine can do), in the same run. */
  readonly floor?: string;
  /** value / floor, for the measure the target names (above 1: slower or larger than the floor). */
  readonly ratio?: number;
  readonly target?: string;
  readonly ok?: boolean;
}

export const ms = (value: number): string =>
  Number.isFinite(value) ? `${value.toFixed(value < 10 ? 1 : 0)} ms` : 'n/a';
export const kb = (bytes: number): string => `${(bytes / 1024).toFixed(1)} KB`;
export const mb = (bytes: number): string => `${(bytes / 1024 / 1024).toFixed(1)} MB`;
export const perSecond = (value: number): string => `${Math.round(value).toLocaleString('en-US')}/s`;
export const times = (ratio: number): string =>
  Number.isFinite(ratio) ? `${ratio.toFixed(ratio < 10 ? 2 : 1)}x` : 'n/a';

/** The rows as a Markdown table (the same text is printed and pasted into docs/BENCHMARKS.md). */
export function markdownTable(rows: readonly ResultRow[]): string {
  const lines = ['| benchmark | metric | value | floor | value / floor | target |', '|---|---|---|---|---|---|'];
  for (const row of rows) {
    const target = row.target === undefined ? '' : `${row.target}: ${row.ok === false ? 'MISSED' : 'met'}`;
    const ratio = row.ratio === undefined ? '' : times(row.ratio);
    lines.push(`| ${row.benchmark} | ${row.metric} | ${row.value} | ${row.floor ?? ''} | ${ratio} | ${target} |`);
  }
  return lines.join('\n');
}
