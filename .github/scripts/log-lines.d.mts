// Types for log-lines.mjs, which stays plain JavaScript so it runs on GitHub's runner with no build step.

/** The contract's bounds of log lines, batches and jobs (docs/CONTRACT.md, "Log lines"). */
export const LOG_LIMITS: Readonly<{
  lineChars: number;
  batchLines: number;
  batchBytes: number;
  jobLines: number;
  jobBytes: number;
}>;
/** How long a line waits before its batch is sent. */
export const FLUSH_MS: number;
/** What replaces a secret. */
export const MASKED: string;
export const STEP_MARKER: string;
export const END_MARKER: string;

export interface MaskState {
  inPrivateKey: boolean;
}

/** One line with its secrets masked (`knownSecrets`: exact values to mask too). */
export function maskLine(line: string, knownSecrets?: readonly string[]): string;
/** Consecutive lines masked; a private key from BEGIN to END, also across calls. */
export function maskLines(
  lines: readonly string[],
  state?: MaskState,
  knownSecrets?: readonly string[],
): { lines: string[]; state: MaskState };
/** Without terminal escapes and control characters, cut to `LOG_LIMITS.lineChars` with the cut marked. */
export function cleanLine(raw: string): string;

/** A workflow command line (`::error::text`) as its text; `::add-mask::` lines are dropped (undefined). */
export function withoutWorkflowCommand(line: string): string | undefined;

export interface LogBatcherOptions {
  jobId: string;
  /** Posts one `type: logs` payload; called one at a time, in batch order. */
  send: (payload: Record<string, unknown>) => Promise<unknown>;
  knownSecrets?: readonly string[];
  flushMs?: number;
  now?: () => Date;
}

/** Collects a run's output and sends it in bounded, numbered batches, one at a time. */
export class LogBatcher {
  constructor(options: LogBatcherOptions);
  /** Adds one output line of a workflow step. */
  add(step: string, raw: string): void;
  /** Sends what is pending; resolves once every batch so far is answered. */
  flush(): Promise<void>;
  /** Sends everything, and a batch saying how much was cut when lines were. */
  close(lastStep?: string): Promise<void>;
}
