/**
 * The workflow's log lines (docs/CONTRACT.md, "Log lines"): their bounds, which UI step they belong under, and what the
 * callback function refuses before it writes anything. The sender's side is `.github/scripts/log-lines.mjs`
 * (LOG_LIMITS there equals LOG_LIMITS here: test/unit/log-lines.test.ts).
 */
import type { UiStepKey } from './steps.ts';

/**
 * A line: 1,000 characters (longer ones are cut by the sender, the cut marked at its end). A batch: 200 lines and
 * 16 KiB of text, so that even escaped it fits the callback's 64 KiB body cap and a WebSocket message (128 KB). A job:
 * 10,000 lines and 1 MiB, several times a full Ansible run, while a runaway loop cannot fill the table; the sender
 * counts what it could not send and says so in a last batch (`cut`).
 */
export const LOG_LIMITS = {
  lineChars: 1_000,
  batchLines: 200,
  batchBytes: 16 * 1024,
  jobLines: 10_000,
  jobBytes: 1024 * 1024,
} as const;

/** Log lines are kept 14 days: beyond a failed agent's 7 days before it is removed, and a week for support. */
export const LOG_TTL_SECONDS = 14 * 24 * 60 * 60;

/** The workflow's step names a batch may carry (`begin_step` in provision-lib.sh; `setup` before the first). */
export const LOG_STEPS = [
  'setup',
  'validate_inputs',
  'provisioning',
  'vm_created',
  'network_configured',
  'ansible_started',
  'ansible_complete',
  'running',
] as const;
export type LogStep = (typeof LOG_STEPS)[number];

/**
 * The UI step a workflow step's lines are shown under: the one active while the workflow runs it (`running` is the
 * final report, sent while people still see Configuring Agent).
 */
const UI_STEP_OF: Readonly<Record<LogStep, UiStepKey>> = {
  setup: 'creating',
  validate_inputs: 'creating',
  provisioning: 'creating',
  vm_created: 'creating',
  network_configured: 'networking',
  ansible_started: 'installing',
  ansible_complete: 'installing',
  running: 'configuring',
};

export function uiStepOfLogStep(step: LogStep): UiStepKey {
  return UI_STEP_OF[step];
}

export interface LogLine {
  readonly at: string;
  readonly text: string;
}

export const utf8Length = (text: string): number => new TextEncoder().encode(text).byteLength;

/** Bytes of a batch's text (what the bounds count; the JSON around it is not counted). */
export function logBytes(lines: readonly LogLine[]): number {
  return lines.reduce((total, line) => total + utf8Length(line.text), 0);
}

/** Why a batch is over a batch bound, in words for the sender, or undefined when it is within them. */
export function batchOverLimit(lines: readonly LogLine[]): string | undefined {
  if (lines.length > LOG_LIMITS.batchLines) {
    return `The batch holds ${lines.length} lines; at most ${LOG_LIMITS.batchLines}`;
  }
  const long = lines.findIndex((line) => line.text.length > LOG_LIMITS.lineChars);
  if (long !== -1) return `Line ${long} is longer than ${LOG_LIMITS.lineChars} characters`;
  const bytes = logBytes(lines);
  if (bytes > LOG_LIMITS.batchBytes) return `The batch holds ${bytes} bytes of text; at most ${LOG_LIMITS.batchBytes}`;
  return undefined;
}
