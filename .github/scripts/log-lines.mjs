#!/usr/bin/env node
// Sends the workflow's output as `type: logs` callbacks (docs/CONTRACT.md, "Log lines"): masked, cut to the
// contract's bounds, in numbered batches, one at a time. Plain Node ESM with built-ins only, like callback.mjs: it runs
// on GitHub's runner without `npm install`, and the local workflow runner imports it, so both send logs the same way.
// The masking matches lambdas/domain/secret-mask.ts, which masks again before storing: test/unit/secret-mask.test.ts
// holds both to one vector table.
import { open, stat, writeFile } from 'node:fs/promises';
import { setTimeout as sleep } from 'node:timers/promises';
import { isEntryPoint, postCallback } from './callback.mjs';

/**
 * The contract's bounds (lambdas/domain/log-lines.ts holds the server's copy; a unit test keeps them equal).
 * A line: 1,000 characters (an Ansible result can be a page of JSON; its head says what failed). A batch: 200 lines
 * and 16 KiB of text, so that even escaped it stays under the callback's 64 KiB body cap and well inside a WebSocket
 * message. A job: 10,000 lines and 1 MiB, several times a full Ansible run, while a runaway loop cannot fill the table.
 */
export const LOG_LIMITS = Object.freeze({
  lineChars: 1_000,
  batchLines: 200,
  batchBytes: 16 * 1024,
  jobLines: 10_000,
  jobBytes: 1024 * 1024,
});

/** How long lines wait to be sent: a second's worth goes in one batch (50 lines a second are one callback). */
export const FLUSH_MS = 1_000;

export const MASKED = '[masked]';

const SECRET_PATTERNS = [
  /-----BEGIN [A-Z0-9 ]*PRIVATE KEY-----.*?(?:-----END [A-Z0-9 ]*PRIVATE KEY-----|$)/g,
  /\bgh[pousr]_[A-Za-z0-9]{30,}\b/g,
  /\bgithub_pat_[A-Za-z0-9_]{20,}/g,
  /\btskey-[A-Za-z0-9-]{8,}/g,
  /\bwhsec_[A-Za-z0-9+/=]{16,}/g,
  /\b[sr]k_(?:test|live)_[A-Za-z0-9]{16,}/g,
  /\b(?=[A-Za-z0-9]*[A-Z])[A-Za-z0-9]{64}\b/g,
];
const AUTHORIZATION = /(authorization:\s*(?:bearer|token|basic)\s+)[^\s'"]+/gi;
const PRIVATE_KEY_BEGIN = /-----BEGIN [A-Z0-9 ]*PRIVATE KEY-----/;
const PRIVATE_KEY_END = /-----END [A-Z0-9 ]*PRIVATE KEY-----/;
const BASE64_BODY_LINE = /^\s*[A-Za-z0-9+/]{60,}={0,2}\s*$/;
const MIN_KNOWN_SECRET_LENGTH = 8;

/**
 * One line with its secrets masked.
 * @param {string} line
 * @param {readonly string[]} [knownSecrets] exact values to mask too (the run's own secrets)
 * @returns {string}
 */
export function maskLine(line, knownSecrets = []) {
  let masked = line;
  for (const secret of knownSecrets) {
    if (secret.length >= MIN_KNOWN_SECRET_LENGTH) masked = masked.split(secret).join(MASKED);
  }
  for (const pattern of SECRET_PATTERNS) masked = masked.replace(pattern, MASKED);
  return masked.replace(AUTHORIZATION, `$1${MASKED}`);
}

/**
 * Consecutive lines masked; a private key is masked from BEGIN to END, also across calls (`state`).
 * @param {readonly string[]} lines
 * @param {{ inPrivateKey: boolean }} [state]
 * @param {readonly string[]} [knownSecrets]
 * @returns {{ lines: string[], state: { inPrivateKey: boolean } }}
 */
export function maskLines(lines, state = { inPrivateKey: false }, knownSecrets = []) {
  let inPrivateKey = state.inPrivateKey;
  const masked = lines.map((line) => {
    if (inPrivateKey) {
      if (PRIVATE_KEY_END.test(line)) inPrivateKey = false;
      return MASKED;
    }
    if (PRIVATE_KEY_BEGIN.test(line) && !PRIVATE_KEY_END.test(line)) {
      inPrivateKey = true;
      return MASKED;
    }
    if (BASE64_BODY_LINE.test(line)) return MASKED;
    return maskLine(line, knownSecrets);
  });
  return { lines: masked, state: { inPrivateKey } };
}

// Colours and cursor moves of a terminal (Ansible, apt), then every other control character but tab.
// biome-ignore lint/suspicious/noControlCharactersInRegex: control characters are what it removes
const TERMINAL_ESCAPES = /\u001b\[[0-9;?]*[ -/]*[@-~]|\u001b[@-_]/g;
// biome-ignore lint/suspicious/noControlCharactersInRegex: control characters are what it removes
const CONTROL_CHARACTERS = /[\u0000-\u0008\u000a-\u001f\u007f]/g;

/**
 * A raw output line as sent: without terminal escapes and control characters, cut to LOG_LIMITS.lineChars with the
 * cut marked at its end.
 * @param {string} raw
 * @returns {string}
 */
export function cleanLine(raw) {
  const text = raw.replace(TERMINAL_ESCAPES, '').replace(CONTROL_CHARACTERS, '').trimEnd();
  if (text.length <= LOG_LIMITS.lineChars) return text;
  const marker = ` … [cut ${text.length - LOG_LIMITS.lineChars} characters]`;
  return text.slice(0, LOG_LIMITS.lineChars - marker.length) + marker;
}

const utf8Bytes = (text) => Buffer.byteLength(text, 'utf8');

/**
 * Collects a run's output and sends it in batches, one callback at a time and in order: a batch holds one step's
 * lines, at most LOG_LIMITS.batchLines lines and batchBytes bytes, and goes out after FLUSH_MS or when full. Past the
 * job's bounds lines are counted, not sent, and `close` sends one last batch that says how much was cut.
 */
export class LogBatcher {
  /**
   * @param {{ jobId: string, send: (payload: Record<string, unknown>) => Promise<unknown>,
   *   knownSecrets?: readonly string[], flushMs?: number, now?: () => Date }} options
   */
  constructor({ jobId, send, knownSecrets = [], flushMs = FLUSH_MS, now = () => new Date() }) {
    this.jobId = jobId;
    this.send = send;
    this.knownSecrets = knownSecrets;
    this.flushMs = flushMs;
    this.now = now;
    this.batch = 0;
    this.pending = { step: undefined, lines: [], bytes: 0 };
    this.sentLines = 0;
    this.sentBytes = 0;
    this.cut = { lines: 0, bytes: 0 };
    this.maskState = { inPrivateKey: false };
    this.tail = Promise.resolve();
    this.timer = undefined;
  }

  /** Adds one output line of `step` (a workflow step name: vm_created, network_configured, ...). */
  add(step, raw) {
    const masked = maskLines([cleanLine(raw)], this.maskState, this.knownSecrets);
    this.maskState = masked.state;
    const text = masked.lines[0];
    const bytes = utf8Bytes(text);
    if (
      this.sentLines + this.pending.lines.length + 1 > LOG_LIMITS.jobLines ||
      this.sentBytes + this.pending.bytes + bytes > LOG_LIMITS.jobBytes
    ) {
      this.cut = { lines: this.cut.lines + 1, bytes: this.cut.bytes + bytes };
      return;
    }
    if (
      this.pending.step !== step ||
      this.pending.lines.length + 1 > LOG_LIMITS.batchLines ||
      this.pending.bytes + bytes > LOG_LIMITS.batchBytes
    ) {
      this.flush();
    }
    this.pending.step = step;
    this.pending.lines.push({ at: this.now().toISOString(), text });
    this.pending.bytes += bytes;
    this.timer ??= setTimeout(() => this.flush(), this.flushMs);
  }

  /** Sends what is pending now; resolves once every batch so far has been answered (or given up on). */
  flush() {
    clearTimeout(this.timer);
    this.timer = undefined;
    const { step, lines, bytes } = this.pending;
    if (step !== undefined && lines.length > 0) {
      this.pending = { step: undefined, lines: [], bytes: 0 };
      this.sentLines += lines.length;
      this.sentBytes += bytes;
      this.enqueue({ type: 'logs', job_id: this.jobId, batch: (this.batch += 1), step, lines });
    }
    return this.tail;
  }

  /** Sends everything, then, when lines were cut, one batch saying how many (under the step of the last lines). */
  close(lastStep) {
    const step = this.pending.step ?? lastStep;
    this.flush();
    if (this.cut.lines > 0 && step !== undefined) {
      this.enqueue({ type: 'logs', job_id: this.jobId, batch: (this.batch += 1), step, lines: [], cut: this.cut });
      this.cut = { lines: 0, bytes: 0 };
    }
    return this.tail;
  }

  enqueue(payload) {
    this.tail = this.tail.then(() => this.send(payload)).catch(() => undefined);
  }
}

/**
 * A line as people should read it: GitHub's workflow commands (`::error::text`) become their text, and
 * `::add-mask::<value>` is dropped, since it names the very value GitHub is asked to hide.
 * @param {string} line
 * @returns {string | undefined}
 */
export function withoutWorkflowCommand(line) {
  const command = /^::([a-z-]+)(?: [^:]*)?::(.*)$/.exec(line);
  if (command === null) return line;
  if (command[1] === 'add-mask') return undefined;
  return command[1] === 'error' ? `Error: ${command[2]}` : command[2];
}

/** Markers a workflow step writes into the log file: the step now running, and the end of the run's output. */
export const STEP_MARKER = '::log-step::';
export const END_MARKER = '::log-end::';
const POLL_MS = 250;

/**
 * CLI: `node log-lines.mjs <log file> <done file>` with CALLBACK_URL, CALLBACK_SECRET and JOB_ID in the environment
 * (the callback secret is masked by value, the API tokens, which this step is not given, by their patterns). Follows the file the steps append to (provision-lib.sh's begin_step), sends its lines, and at the
 * end marker sends the rest, writes the done file and exits. Never fails the run: lost logs cost no VM.
 */
async function main() {
  const [file, doneFile] = process.argv.slice(2);
  const { CALLBACK_URL: url, CALLBACK_SECRET: secret, JOB_ID: jobId } = process.env;
  if (!file || !doneFile || !url || !secret || !jobId) {
    console.log('log shipping skipped: a file, a done file, CALLBACK_URL, CALLBACK_SECRET and JOB_ID are required');
    return;
  }
  const knownSecrets = secret.split(',').flatMap((value) => [value.trim(), value.trim().replace(/^whsec_/, '')]);
  const batcher = new LogBatcher({
    jobId,
    knownSecrets,
    send: async (payload) => {
      const result = await postCallback({ url, secret, payload });
      if (!result.ok) console.log(`log batch ${payload.batch} not accepted (HTTP ${result.status})`);
    },
  });
  let step = 'setup';
  let offset = 0;
  let rest = '';
  for (let ended = false; !ended; ) {
    const size = await stat(file).then(
      (found) => found.size,
      () => 0,
    );
    if (size > offset) {
      const handle = await open(file, 'r');
      const { buffer, bytesRead } = await handle.read(Buffer.alloc(size - offset), 0, size - offset, offset);
      await handle.close();
      offset += bytesRead;
      const lines = (rest + buffer.subarray(0, bytesRead).toString('utf8')).split('\n');
      rest = lines.pop() ?? '';
      for (const line of lines) {
        if (line.startsWith(END_MARKER)) {
          ended = true;
          break;
        }
        if (line.startsWith(STEP_MARKER)) step = line.slice(STEP_MARKER.length).trim() || step;
        else {
          const shown = withoutWorkflowCommand(line);
          if (shown !== undefined) batcher.add(step, shown);
        }
      }
    }
    if (!ended) await sleep(POLL_MS);
  }
  await batcher.close(step);
  await writeFile(doneFile, 'done\n');
}

if (isEntryPoint(import.meta.url)) await main();
