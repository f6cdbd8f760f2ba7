/** What a handler writes to stdout and stderr, where Lambda's log stream takes it (EMF records included). */
import { vi } from 'vitest';

/** Everything written to stdout and stderr while `run` runs (synchronous or not), one entry per line. */
export async function outputOf(run: () => unknown): Promise<string[]> {
  const written: string[] = [];
  const capture = (chunk: string | Uint8Array) => {
    written.push(chunk.toString());
    return true;
  };
  const stdout = vi.spyOn(process.stdout, 'write').mockImplementation(capture);
  const stderr = vi.spyOn(process.stderr, 'write').mockImplementation(capture);
  try {
    await run();
  } finally {
    stdout.mockRestore();
    stderr.mockRestore();
  }
  return written.flatMap((chunk) => chunk.split('\n').filter((line) => line.trim() !== ''));
}

/** The EMF records among the lines written while `run` runs. */
export async function emfRecordsOf<T = Record<string, unknown>>(run: () => unknown): Promise<T[]> {
  const lines = await outputOf(run);
  return lines
    .map((line) => JSON.parse(line) as Record<string, unknown>)
    .filter((record) => record._aws !== undefined) as T[];
}
