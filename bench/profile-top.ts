/**
 * `npx tsx bench/profile-top.ts <file.cpuprofile> [count]`: the top frames of a V8 CPU profile by self time, and the
 * same time summed per package (or per project folder), so a profile of the stack process under `npm run bench`
 * (`BENCH_CPU_PROF=<dir>`) says where the twin's CPU goes.
 */
import { readFileSync } from 'node:fs';
import { relative, resolve } from 'node:path';

interface ProfileNode {
  readonly id: number;
  readonly callFrame: { readonly functionName: string; readonly url: string; readonly lineNumber: number };
}
interface Profile {
  readonly nodes: readonly ProfileNode[];
  readonly samples: readonly number[];
  readonly timeDeltas: readonly number[];
}

const PROJECT_ROOT = resolve(import.meta.dirname, '..');

/** `node_modules/@aws-sdk/core/...` -> `@aws-sdk/core`; a project file -> its folder; `node:` internals as such. */
function ownerOf(url: string): string {
  if (url === '') return '(native / idle / gc)';
  if (url.startsWith('node:')) return url;
  const path = url.startsWith('file://') ? new URL(url).pathname : url;
  const modules = path.lastIndexOf('/node_modules/');
  if (modules >= 0) {
    const [scope, name] = path.slice(modules + '/node_modules/'.length).split('/');
    return scope!.startsWith('@') ? `${scope}/${name}` : scope!;
  }
  return relative(PROJECT_ROOT, path).split('/').slice(0, 2).join('/');
}

function main(): void {
  const [file, countArg] = process.argv.slice(2);
  if (file === undefined) throw new Error('usage: tsx bench/profile-top.ts <file.cpuprofile> [count]');
  const count = Number(countArg ?? 25);
  const profile = JSON.parse(readFileSync(file, 'utf8')) as Profile;
  const byId = new Map(profile.nodes.map((node) => [node.id, node]));
  const selfMicros = new Map<number, number>();
  profile.samples.forEach((id, index) => {
    selfMicros.set(id, (selfMicros.get(id) ?? 0) + (profile.timeDeltas[index] ?? 0));
  });
  const total = [...selfMicros.values()].reduce((sum, micros) => sum + micros, 0);
  const frames = new Map<string, number>();
  const owners = new Map<string, number>();
  for (const [id, micros] of selfMicros) {
    const { functionName, url, lineNumber } = byId.get(id)!.callFrame;
    const frame = `${functionName || '(anonymous)'}  ${ownerOf(url)}${url ? `:${lineNumber + 1}` : ''}`;
    frames.set(frame, (frames.get(frame) ?? 0) + micros);
    owners.set(ownerOf(url), (owners.get(ownerOf(url)) ?? 0) + micros);
  }
  const share = (micros: number) => `${((100 * micros) / total).toFixed(1).padStart(5)} %`;
  const top = (entries: Map<string, number>) =>
    [...entries]
      .toSorted((a, b) => b[1] - a[1])
      .slice(0, count)
      .map(([name, micros]) => `${share(micros)}  ${name}`);
  console.log(`${(total / 1e6).toFixed(1)} s sampled\n\nself time by frame:\n${top(frames).join('\n')}`);
  console.log(`\nself time by package or folder:\n${top(owners).join('\n')}`);
}

main();
