/**
 * The local stand-in for CloudWatch Logs: what a function writes to stdout while it runs (Lambda captures each
 * function's the same way, and CloudWatch turns its EMF records into metrics). The functions share this one process,
 * so each invocation runs in an async context naming its function ({@link asFunction}); what it writes there as one
 * JSON object a line is kept, tagged with `function`:
 * - EMF records (Powertools Metrics, with `_aws`) are appended to the metrics file and never printed;
 * - structured log lines (Powertools Logger) are appended to the log file when there is one, else printed as before.
 * Anything else (the runtime's own lines, a function in a worker thread of its own) passes through unchanged.
 */
import { AsyncLocalStorage } from 'node:async_hooks';
import { appendFileSync } from 'node:fs';

export interface FunctionOutputFiles {
  /** Where EMF records go, one a line. */
  readonly metricsFile?: string;
  /** Where structured log lines go, one a line (instead of the terminal). */
  readonly logFile?: string;
}

const invocation = new AsyncLocalStorage<string>();
const sinks = new Set<FunctionOutputFiles>();
let terminalWrite: typeof process.stdout.write | undefined;

/** Runs `run` as an invocation of `functionName`: what it writes to stdout is that function's output. */
export function asFunction<T>(functionName: string, run: () => T): T {
  return invocation.run(functionName, run);
}

/** Starts keeping the functions' output in `files`; the returned function stops it. */
export function captureFunctionOutput(files: FunctionOutputFiles): () => void {
  sinks.add(files);
  if (terminalWrite === undefined) {
    const write = (terminalWrite = process.stdout.write);
    process.stdout.write = ((chunk: string | Uint8Array, ...rest: unknown[]) => {
      const functionName = invocation.getStore();
      const printed = functionName === undefined ? chunk.toString() : keep(functionName, chunk.toString());
      return printed === '' ? true : (write as (...args: unknown[]) => boolean).call(process.stdout, printed, ...rest);
    }) as typeof process.stdout.write;
  }
  return () => {
    sinks.delete(files);
    if (sinks.size === 0 && terminalWrite !== undefined) {
      process.stdout.write = terminalWrite;
      terminalWrite = undefined;
    }
  };
}

/** Keeps what a function wrote in the files; returns what is still to be printed. */
function keep(functionName: string, text: string): string {
  let printed = '';
  for (const line of text.split('\n')) {
    if (line === '') continue;
    const record = jsonObject(line);
    if (record === undefined) {
      printed += `${line}\n`;
      continue;
    }
    const isMetric = '_aws' in record;
    const paths = [...sinks].flatMap((sink) => (isMetric ? sink.metricsFile : sink.logFile) ?? []);
    const entry = `${JSON.stringify({ function: functionName, ...record })}\n`;
    for (const path of paths) appendFileSync(path, entry);
    if (paths.length === 0 && !isMetric) printed += `${line}\n`;
  }
  return printed;
}

function jsonObject(line: string): Record<string, unknown> | undefined {
  if (!line.startsWith('{')) return undefined;
  try {
    const value: unknown = JSON.parse(line);
    return typeof value === 'object' && value !== null ? (value as Record<string, unknown>) : undefined;
  } catch {
    return undefined;
  }
}
