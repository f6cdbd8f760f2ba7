/**
 * Every repository path named in a doc or a code comment exists, so that a reader sent to a file finds it: docs and
 * comments outlive the moves and renames that make them wrong, and nothing else reads them.
 */
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { extname, join, relative } from 'node:path';
import ts from 'typescript';
import { describe, expect, it } from 'vitest';

const ROOT = join(import.meta.dirname, '../..');
/** Top-level folders of the repository; a path is counted only when it starts with one of them. */
const TOP_LEVEL = [
  'lambdas',
  'lib',
  'local',
  'test',
  'frontend',
  'bench',
  'state-machines',
  'docs',
  'bin',
  '.github',
  'ansible',
  'scripts',
];
/** Not in a fresh clone: made by a build or a run, or installed. */
const GENERATED = ['node_modules', 'cdk.out', 'frontend/dist', '.data', '.artifacts', 'bench/results', '.git'];
const PATH = new RegExp(
  `(?<![\\w./@-])((?:${TOP_LEVEL.map((dir) => dir.replace('.', '\\.')).join('|')})/[\\w./<>*{}$-]*)`,
  'g',
);
/** Names that look like paths and are not: the local stack's Secrets Manager secret ids (local/start.ts). */
const NOT_PATHS = new Set(['local/stripe-secret-key']);
const SOURCE_EXTENSIONS = new Set(['.ts', '.tsx', '.mts', '.mjs']);
const HASH_COMMENT_EXTENSIONS = new Set(['.sh', '.yml', '.yaml']);

function filesUnder(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((entry) => {
    const path = join(dir, entry.name);
    if (GENERATED.includes(relative(ROOT, path))) return [];
    return entry.isDirectory() ? filesUnder(path) : [path];
  });
}

/** The text of every comment in a TypeScript or JavaScript file, found through its syntax tree (not in strings). */
function commentsOfSource(file: string, text: string): string[] {
  const source = ts.createSourceFile(file, text, ts.ScriptTarget.Latest, true);
  const seen = new Set<number>();
  const comments: string[] = [];
  const visit = (node: ts.Node) => {
    for (const range of [
      ...(ts.getLeadingCommentRanges(text, node.pos) ?? []),
      ...(ts.getTrailingCommentRanges(text, node.end) ?? []),
    ]) {
      if (seen.has(range.pos)) continue;
      seen.add(range.pos);
      comments.push(text.slice(range.pos, range.end));
    }
    ts.forEachChild(node, visit);
  };
  visit(source);
  return comments;
}

function proseOf(file: string): string[] {
  const text = readFileSync(file, 'utf8');
  const extension = extname(file);
  if (extension === '.md') return [text];
  if (SOURCE_EXTENSIONS.has(extension)) return commentsOfSource(file, text);
  if (HASH_COMMENT_EXTENSIONS.has(extension)) return text.split('\n').filter((line) => /(^|\s)#\s/.test(line));
  return [];
}

/** The paths a text names; a pattern (`<name>`, `*`, `{id}`, `${...}`) stands for many files and is not a path. */
function pathsIn(text: string): string[] {
  return [...text.matchAll(PATH)]
    .map((match) => match[1]!.replace(/[./]+$/, ''))
    .filter(
      (path) =>
        !/[<>*{}$]/.test(path) &&
        !NOT_PATHS.has(path) &&
        !GENERATED.some((dir) => path === dir || path.startsWith(`${dir}/`)),
    );
}

describe('repository paths named in docs and comments', () => {
  const named = filesUnder(ROOT).flatMap((file) =>
    proseOf(file).flatMap((text) => pathsIn(text).map((path) => ({ in: relative(ROOT, file), path }))),
  );

  it('finds the paths it checks', () => {
    // The docs' layout section alone names dozens; a broken pattern would make the check below pass on nothing.
    expect(named.length).toBeGreaterThan(100);
    expect(named).toContainEqual({ in: 'docs/ARCHITECTURE.md', path: 'lib/constructs' });
  });

  it('every one of them exists', () => {
    // A module may be named without its extension, as an import names it.
    const exists = (path: string) => existsSync(join(ROOT, path)) || existsSync(join(ROOT, `${path}.ts`));
    expect(named.filter(({ path }) => !exists(path))).toEqual([]);
  });
});
