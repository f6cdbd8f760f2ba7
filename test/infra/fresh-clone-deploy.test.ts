/**
 * The README's deploy commands, run as a new user would: in a fresh clone of this repository (its committed tree, with
 * no `frontend/dist` or `cdk.out`), one after another, with `cdk synth` in place of `cdk deploy` (neither needs an
 * account to synthesize). The dashboard asset the synthesized stack deploys must hold the built app, not only its
 * `config.json`: a deploy that shipped no app answered 403 at `/`.
 */
import { execFileSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, realpathSync, rmSync, symlinkSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { fromRepoRoot, repoRoot } from '../../lib/paths.ts';
import { TEST_STRIPE_PRICE_ID } from './support.ts';

/** The README's placeholders, and what this test deploys with. */
const PLACEHOLDERS: Readonly<Record<string, string>> = { 'price_...': TEST_STRIPE_PRICE_ID };

/**
 * Commands of the deploy section this test cannot run here, and why. Anything else it does not know fails the test,
 * so a new step in the README is either run or named here.
 */
const NOT_RUN: ReadonlyArray<[RegExp, string]> = [
  [/^npm (ci|install)\b/, 'node_modules is the working tree’s own (linked): no network here'],
  [/^npx cdk bootstrap\b/, 'needs an AWS account'],
];

/** This process's environment without what vitest adds (NODE_ENV=test would change what Vite builds). */
const USER_ENVIRONMENT = Object.fromEntries(
  Object.entries(process.env).filter(([name]) => name !== 'NODE_ENV' && !name.startsWith('VITEST')),
);

/** The shell commands of the README's "Deploy to AWS" section: its first `bash` block, without comments. */
function readmeDeployCommands(): string[] {
  const readme = readFileSync(fromRepoRoot('README.md'), 'utf8');
  const section = readme.slice(readme.indexOf('## Deploy to AWS'));
  const block = /```bash\n([\s\S]*?)```/.exec(section)?.[1];
  if (block === undefined) throw new Error('README.md: no bash block under "## Deploy to AWS"');
  return block
    .split('\n')
    .map((line) => line.replace(/\s+#.*$/, '').trim())
    .filter((line) => line !== '' && !line.startsWith('#'));
}

/** The files of the asset a deployment source key (`<hash>.zip`) names in a cloud assembly. */
const assetDirectory = (cdkOut: string, objectKey: string) => join(cdkOut, `asset.${objectKey.replace(/\.zip$/, '')}`);

describe('the README deploy commands, in a fresh clone', () => {
  const workspace = mkdtempSync(join(tmpdir(), 'fresh-clone-'));
  const clone = join(workspace, 'repo');
  afterAll(() => rmSync(workspace, { recursive: true, force: true }));

  it('synthesize a stack whose dashboard asset holds the built app (index.html and the scripts it loads)', () => {
    execFileSync('git', ['clone', '--quiet', '--shared', repoRoot, clone]);
    expect(existsSync(join(clone, 'frontend/dist'))).toBe(false);
    symlinkSync(realpathSync(fromRepoRoot('node_modules')), join(clone, 'node_modules'));

    const commands = readmeDeployCommands();
    expect(commands.some((command) => command.startsWith('npx cdk deploy '))).toBe(true);
    const run: string[] = [];
    for (const command of commands) {
      if (NOT_RUN.some(([pattern]) => pattern.test(command))) continue;
      const literal = Object.entries(PLACEHOLDERS).reduce((text, [from, to]) => text.replaceAll(from, to), command);
      expect(literal, 'a placeholder this test does not fill').not.toContain('...');
      const runnable = literal.replace(/^npx cdk deploy /, 'npx cdk synth ');
      expect(runnable, 'only cdk synth runs here, without an account').toMatch(/^npx cdk synth /);
      // The template goes to stdout; bundling (esbuild, Vite) reports on stderr.
      execFileSync('bash', ['-c', runnable], {
        cwd: clone,
        stdio: ['ignore', 'ignore', 'pipe'],
        env: USER_ENVIRONMENT,
        maxBuffer: 16 * 1024 * 1024,
      });
      run.push(runnable);
    }
    expect(run.length).toBeGreaterThan(0);

    const cdkOut = join(clone, 'cdk.out');
    const template = JSON.parse(readFileSync(join(cdkOut, 'AgentPipeline.template.json'), 'utf8')) as {
      Resources: Record<string, { Type: string; Properties: { SourceObjectKeys?: string[] } }>;
    };
    const [deployment, ...others] = Object.values(template.Resources).filter(
      (resource) => resource.Type === 'Custom::CDKBucketDeployment',
    );
    expect(others).toEqual([]);
    const sources = deployment!.Properties.SourceObjectKeys!.map((key) => assetDirectory(cdkOut, key));
    const app = sources.find((directory) => existsSync(join(directory, 'index.html')));
    expect(app, `no source of ${sources.join(', ')} holds index.html`).toBeDefined();
    const scripts = [...readFileSync(join(app!, 'index.html'), 'utf8').matchAll(/<script[^>]*\bsrc="\/?([^"]+)"/g)].map(
      (match) => match[1]!,
    );
    expect(scripts.length).toBeGreaterThan(0);
    for (const script of scripts) {
      expect(script).toMatch(/\.js$/);
      expect(readFileSync(join(app!, script), 'utf8').length, script).toBeGreaterThan(1000);
    }
    // And config.json beside it, pointing at the stack's backends.
    expect(sources.some((directory) => existsSync(join(directory, 'config.json')))).toBe(true);
  }, 600_000);
});
