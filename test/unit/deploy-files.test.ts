/**
 * The README's deploy steps, followed literally, give the workflow repository every file the workflow needs: every
 * file provision-agent.yml references (sourced, run, played), and every file those reference in turn, exists here and
 * is named by the README's "Deploy to AWS" section, itself or through its folder.
 */
import { existsSync, readFileSync } from 'node:fs';
import { dirname, join, normalize, relative } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parse as parseYaml } from 'yaml';
import { describe, expect, it } from 'vitest';

const REPO_ROOT = fileURLToPath(new URL('../../', import.meta.url));
const WORKFLOW = '.github/workflows/provision-agent.yml';

interface WorkflowDocument {
  jobs: Record<string, { steps: Array<{ run?: string; uses?: string; with?: Record<string, unknown> }> }>;
}

/**
 * Repository-relative file paths in shell text (`source x.sh`, `node x.mjs`, `ansible-playbook ... x.yml`): a word with
 * a folder and an extension, not part of a URL (`https://host/install.sh`) nor of a variable (`${RUNNER_TEMP}/x.json`).
 */
function pathsInShell(text: string): string[] {
  const paths = text.matchAll(
    /(?<![\w.$}/:-])((?:[\w.-]+\/)+[\w.-]+\.(?:sh|bash|mjs|cjs|js|ts|py|yml|yaml|json|j2|cfg))(?![\w/])/g,
  );
  return [...paths].map((match) => match[1]!);
}

/** What a JavaScript module imports: relative files are followed; anything but `node:` built-ins is a finding. */
function importsOf(text: string): string[] {
  return [...text.matchAll(/(?:\bfrom\s+|\bimport\s*\(\s*|\bimport\s+)['"]([^'"]+)['"]/g)].map((match) => match[1]!);
}

/** Ansible files a playbook pulls in by path (`src:`, includes, imports). */
function pathsInPlaybook(text: string): string[] {
  return [
    ...text.matchAll(
      /^\s*-?\s*(?:src|file|import_playbook|import_tasks|include_tasks|include_vars|template):\s*['"]?([^\s'"{}]+)/gm,
    ),
  ].map((match) => match[1]!);
}

/** Every file the workflow needs, repository-relative, and the package imports a shipped script would need installed. */
function workflowFiles(): { files: string[]; packageImports: string[] } {
  const workflow = parseYaml(readFileSync(join(REPO_ROOT, WORKFLOW), 'utf8')) as WorkflowDocument;
  const pending = Object.values(workflow.jobs).flatMap((job) =>
    job.steps.flatMap((step) => [
      ...(step.run === undefined ? [] : pathsInShell(step.run)),
      // A local action (`uses: ./path`) is a folder of the repository too.
      ...(step.uses?.startsWith('./') ? [normalize(step.uses)] : []),
    ]),
  );
  const files = new Set<string>([WORKFLOW]);
  const packageImports: string[] = [];
  while (pending.length > 0) {
    const file = normalize(pending.pop()!);
    if (files.has(file)) continue;
    files.add(file);
    const absolute = join(REPO_ROOT, file);
    if (!existsSync(absolute)) continue; // reported by the test
    const text = readFileSync(absolute, 'utf8');
    if (/\.(sh|bash)$/.test(file)) pending.push(...pathsInShell(text));
    if (/\.(mjs|cjs|js)$/.test(file)) {
      for (const specifier of importsOf(text)) {
        if (specifier.startsWith('.')) pending.push(relative(REPO_ROOT, join(dirname(absolute), specifier)));
        else if (!specifier.startsWith('node:')) packageImports.push(`${file} imports ${specifier}`);
      }
    }
    if (/^ansible\/.*\.ya?ml$/.test(file)) {
      pending.push(...pathsInPlaybook(text).map((path) => relative(REPO_ROOT, join(dirname(absolute), path))));
    }
  }
  return { files: [...files].sort(), packageImports };
}

/** The code spans of the README's "Deploy to AWS" section, e.g. `.github/`, `ansible/`. */
function deploySectionNames(): Set<string> {
  const readme = readFileSync(join(REPO_ROOT, 'README.md'), 'utf8');
  const section = /^## Deploy to AWS$([\s\S]*?)(?=^## )/m.exec(readme)?.[1];
  if (section === undefined) throw new Error('README.md has no "## Deploy to AWS" section');
  return new Set([...section.matchAll(/`([^`\s]+)`/g)].map((match) => match[1]!.replace(/\/$/, '')));
}

/** Whether the README names `file` or one of its folders. */
function named(file: string, names: Set<string>): boolean {
  for (let path = file; path !== '.' && path !== ''; path = dirname(path)) if (names.has(path)) return true;
  return false;
}

describe('files of the workflow repository', () => {
  const { files, packageImports } = workflowFiles();

  it('finds what the workflow sources, runs and plays, and what those reference in turn', () => {
    // Guards the scanner itself: exactly what is referenced today, directly or through provision-lib.sh (callback.mjs
    // names its type declarations in JSDoc; the lib reads the region catalogue).
    expect(files).toEqual([
      '.github/regions.json',
      '.github/scripts/callback.d.mts',
      '.github/scripts/callback.mjs',
      '.github/scripts/log-lines.mjs',
      '.github/scripts/provision-lib.sh',
      WORKFLOW,
      'ansible/agent.yml',
    ]);
  });

  it('exist in this repository', () => {
    expect(files.filter((file) => !existsSync(join(REPO_ROOT, file)))).toEqual([]);
  });

  it('are each named by the README deploy section, themselves or through their folder', () => {
    const names = deploySectionNames();
    expect(files.filter((file) => !named(file, names))).toEqual([]);
  });

  it('need nothing installed: shipped scripts import only Node.js built-ins and each other', () => {
    // The workflow runs `node` on the checked-out files without an `npm install`.
    expect(packageImports).toEqual([]);
  });
});
