/**
 * Folders by owner, read from the imports themselves (static, type-only, re-exports and literal dynamic imports, as the
 * TypeScript compiler lists them):
 * - a handler folder (`lambdas/<name>/`) imports only `domain/`, `shared/` and itself, so what two functions share is
 *   in `shared/` and no function's bundle reaches into another's folder;
 * - `shared/` imports only `domain/` and `shared/`; `domain/` only `domain/`, and nothing of AWS (pure modules);
 * - the dashboard (`frontend/`) takes only `domain/` from `lambdas/` (it runs in the browser);
 * - the local runtime (`local/`) imports no handler folder: it runs functions through the template's entries, as AWS
 *   does.
 */
import { readdirSync, readFileSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import ts from 'typescript';
import { describe, expect, it } from 'vitest';

const REPO_ROOT = fileURLToPath(new URL('../../', import.meta.url));
const AWS_PACKAGE = /^(@aws-sdk\/|@aws-lambda-powertools\/|aws-lambda$)/;

/** The specifiers a module imports, as the compiler reads them (comments and strings are not imports). */
function importsOf(source: string): string[] {
  return ts.preProcessFile(source, true, true).importedFiles.map((file) => file.fileName);
}

function sourceFiles(folder: string): string[] {
  return readdirSync(join(REPO_ROOT, folder), { recursive: true, encoding: 'utf8' })
    .filter((file) => /\.tsx?$/.test(file) && !file.split(/[\\/]/).includes('node_modules'))
    .map((file) => join(folder, file).replaceAll('\\', '/'));
}

/** Where under `lambdas/` a relative import lands (`domain`, `shared`, a handler's name), or undefined outside it. */
function lambdasFolderOf(file: string, specifier: string): string | undefined {
  if (!specifier.startsWith('.')) return undefined;
  const target = relative(REPO_ROOT, resolve(REPO_ROOT, dirname(file), specifier)).replaceAll('\\', '/');
  const [top, folder] = target.split('/');
  return top === 'lambdas' ? folder : undefined;
}

/** Every import of the files under `folder` that `allowed` refuses, as `file -> specifier`. */
function violations(folder: string, allowed: (file: string, specifier: string) => boolean): string[] {
  return sourceFiles(folder).flatMap((file) =>
    importsOf(readFileSync(join(REPO_ROOT, file), 'utf8'))
      .filter((specifier) => !allowed(file, specifier))
      .map((specifier) => `${file} -> ${specifier}`),
  );
}

/** The imports of the files under `folder` that land in a folder of `lambdas/` not in `mayImport`. */
function lambdasImportsOutside(folder: string, mayImport: readonly string[]): string[] {
  return violations(folder, (file, specifier) => {
    const target = lambdasFolderOf(file, specifier);
    return target === undefined || mayImport.includes(target);
  });
}

describe('import rules', () => {
  it('reads static, type-only, re-exported and dynamic imports, not comments or strings', () => {
    const source = [
      "import { a } from './a.ts';",
      "import type { B } from '../b.ts';",
      "export { c } from './c.ts';",
      "const d = await import('./d.ts');",
      "// import { e } from './e.ts';",
      'const f = "import { f } from \'./f.ts\'";',
    ].join('\n');
    expect(importsOf(source)).toEqual(['./a.ts', '../b.ts', './c.ts', './d.ts']);
  });

  it('a handler folder imports only domain/, shared/ and itself', () => {
    const handlerFolders = readdirSync(join(REPO_ROOT, 'lambdas'), { withFileTypes: true })
      .filter((entry) => entry.isDirectory() && entry.name !== 'domain' && entry.name !== 'shared')
      .map((entry) => entry.name);
    expect(handlerFolders.length).toBeGreaterThan(10);
    const found = handlerFolders.flatMap((name) =>
      lambdasImportsOutside(`lambdas/${name}`, ['domain', 'shared', name]),
    );
    expect(found).toEqual([]);
  });

  /** Folders and the folders of `lambdas/` each may import from. */
  const rules: ReadonlyArray<{ name: string; folder: string; mayImport: readonly string[] }> = [
    { name: 'shared/ imports only domain/ and shared/', folder: 'lambdas/shared', mayImport: ['domain', 'shared'] },
    { name: 'domain/ imports only domain/', folder: 'lambdas/domain', mayImport: ['domain'] },
    { name: 'the dashboard takes only domain/ from lambdas/', folder: 'frontend/src', mayImport: ['domain'] },
    {
      name: 'the local runtime imports no handler folder (it runs them through the template)',
      folder: 'local',
      mayImport: ['domain', 'shared'],
    },
    { name: 'the operator scripts import no handler folder', folder: 'scripts', mayImport: ['domain', 'shared'] },
  ];
  it.each(rules)('$name', ({ folder, mayImport }) => {
    expect(lambdasImportsOutside(folder, mayImport)).toEqual([]);
  });

  it('domain/ imports nothing of AWS', () => {
    expect(violations('lambdas/domain', (_file, specifier) => !AWS_PACKAGE.test(specifier))).toEqual([]);
  });
});
