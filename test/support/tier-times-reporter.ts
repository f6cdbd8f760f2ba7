/**
 * Prints, at the end of a run, each tier's wall time (first file started to last file ended) and the slowest files,
 * so a slow `npm test` says where its time went. File durations within a tier overlap; the tier's wall time is what a
 * developer waits for.
 */
import type { Reporter, TestModule } from 'vitest/node';

/** How many of the slowest files are listed. */
const SLOWEST_FILES = 10;

interface Span {
  readonly tier: string;
  readonly file: string;
  readonly startedAt: number;
  endedAt?: number;
}

export default class TierTimesReporter implements Reporter {
  private readonly spans = new Map<string, Span>();
  private runStartedAt = 0;

  onTestRunStart(): void {
    this.runStartedAt = Date.now();
    this.spans.clear();
  }

  // Queued is called right before the worker imports the file: collection (often where a suite's stack starts) counts.
  onTestModuleQueued(testModule: TestModule): void {
    this.spans.set(testModule.id, {
      tier: testModule.project.name,
      file: testModule.relativeModuleId,
      startedAt: Date.now(),
    });
  }

  onTestModuleEnd(testModule: TestModule): void {
    const span = this.spans.get(testModule.id);
    if (span) span.endedAt = Date.now();
  }

  onTestRunEnd(): void {
    const ended = [...this.spans.values()].filter((span): span is Required<Span> => span.endedAt !== undefined);
    if (ended.length === 0) return;
    const lines = ['', `Wall time by tier (run ${seconds(Date.now() - this.runStartedAt)}):`];
    for (const [tier, spans] of Map.groupBy(ended, (span) => span.tier)) {
      const wall = Math.max(...spans.map((span) => span.endedAt)) - Math.min(...spans.map((span) => span.startedAt));
      lines.push(`  ${tier.padEnd(12)} ${seconds(wall).padStart(7)}  ${spans.length} files`);
    }
    lines.push(`Slowest files:`);
    for (const span of ended
      .toSorted((a, b) => b.endedAt - b.startedAt - (a.endedAt - a.startedAt))
      .slice(0, SLOWEST_FILES)) {
      lines.push(`  ${seconds(span.endedAt - span.startedAt).padStart(7)}  ${span.tier}  ${span.file}`);
    }
    process.stdout.write(`${lines.join('\n')}\n`);
  }
}

function seconds(ms: number): string {
  return `${(ms / 1000).toFixed(1)} s`;
}
