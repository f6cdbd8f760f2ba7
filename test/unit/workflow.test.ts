import { execFile } from 'node:child_process';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { parse as parseYaml } from 'yaml';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { FINAL_REPORT_RETRY_MS } from '../../.github/scripts/callback.mjs';

const REPO_ROOT = fileURLToPath(new URL('../../', import.meta.url));
const WORKFLOW_FILE = join(REPO_ROOT, '.github/workflows/provision-agent.yml');
const ACTION_VALIDATOR = join(REPO_ROOT, 'node_modules/.bin/action-validator');
const SECRETS = ['CALLBACK_SECRET', 'HCLOUD_TOKEN', 'TAILSCALE_API_KEY', 'TAILSCALE_AUTHKEY', 'SSH_PRIVATE_KEY'];
const run = promisify(execFile);

interface Step {
  name?: string;
  uses?: string;
  run?: string;
  if?: string;
  env?: Record<string, string>;
}

interface Workflow {
  on: { workflow_dispatch: { inputs: Record<string, { type: string; required?: boolean; default?: unknown }> } };
  permissions: Record<string, string>;
  concurrency: { group: string };
  jobs: { provision: { 'timeout-minutes': number; defaults: { run: { shell: string } }; steps: Step[] } };
}

const source = await readFile(WORKFLOW_FILE, 'utf8');
const workflow = parseYaml(source) as Workflow;
const steps = workflow.jobs.provision.steps;
const scriptSteps = steps.filter((step): step is Step & { run: string } => step.run !== undefined);
const stepNamed = (name: string) => steps.find((step) => step.name === name);

/** Runs a command; resolves with its exit code and output instead of rejecting on a non-zero exit. */
async function exitOf(command: string, args: string[], cwd = REPO_ROOT) {
  try {
    const { stdout, stderr } = await run(command, args, { cwd });
    return { code: 0, output: `${stdout}${stderr}` };
  } catch (error) {
    const failed = error as { code?: number | string; stdout?: string; stderr?: string };
    if (failed.code === 'ENOENT') throw new Error(`${command} is not installed (apt-get install -y ${command})`);
    return { code: Number(failed.code), output: `${failed.stdout ?? ''}${failed.stderr ?? ''}` };
  }
}

describe('provision-agent.yml', () => {
  let scratch: string;
  beforeAll(async () => {
    scratch = await mkdtemp(join(tmpdir(), 'workflow-test-'));
  });
  afterAll(async () => {
    await rm(scratch, { recursive: true, force: true });
  });

  it('passes action-validator, which rejects a broken workflow', async () => {
    expect(await exitOf(ACTION_VALIDATOR, [WORKFLOW_FILE])).toEqual({ code: 0, output: '' });
    const broken = join(scratch, 'broken.yml');
    await writeFile(broken, source.replace('runs-on: ubuntu-24.04', 'runs-on: [ubuntu-24.04\n'));
    expect((await exitOf(ACTION_VALIDATOR, [broken])).code).not.toBe(0);
  });

  it('has shell that shellcheck finds nothing to say about, in every run block and the sourced helpers', async () => {
    const files = await Promise.all(
      scriptSteps.map(async (step) => {
        // `${{ }}` is not shell: shellcheck sees a variable in its place, as the runner would after substitution.
        const script = `#!/usr/bin/env bash\n${step.run.replace(/\$\{\{[^}]*\}\}/g, '${GITHUB_EXPRESSION}')}`;
        const file = join(scratch, `${(step.name ?? 'unnamed').toLowerCase().replaceAll(' ', '-')}.sh`);
        await writeFile(file, script);
        return file;
      }),
    );
    // --external-sources follows `source .github/scripts/provision-lib.sh`, resolved from the repository root as on
    // the runner; the helpers are checked on their own too.
    const result = await exitOf('shellcheck', [
      '--external-sources',
      '--severity=style',
      ...files,
      '.github/scripts/provision-lib.sh',
    ]);
    expect(result).toEqual({ code: 0, output: '' });
    expect(scriptSteps.length).toBeGreaterThanOrEqual(8);
  });

  it('runs bash with -euo pipefail for every run block', () => {
    expect(workflow.jobs.provision.defaults.run.shell).toBe('bash --noprofile --norc -euo pipefail {0}');
    expect(scriptSteps.filter((step) => 'shell' in step)).toEqual([]);
  });

  it('takes the dispatch inputs the dispatcher sends', () => {
    const inputs = workflow.on.workflow_dispatch.inputs;
    expect(Object.keys(inputs).sort()).toEqual([
      'agent_id',
      'agent_name',
      'callback_url',
      'dry_run',
      'job_id',
      'region',
    ]);
    for (const name of ['job_id', 'agent_id', 'agent_name', 'region', 'callback_url']) {
      expect(inputs[name]).toMatchObject({ type: 'string', required: true });
    }
    expect(inputs.dry_run).toMatchObject({ type: 'boolean', default: false });
  });

  it('reads only the repository, serializes runs per job and ends before the server-side completion timeout', () => {
    expect(workflow.permissions).toEqual({ contents: 'read' });
    expect(workflow.concurrency.group).toContain('${{ inputs.job_id }}');
    expect(workflow.jobs.provision['timeout-minutes']).toBeGreaterThan(0);
    expect(workflow.jobs.provision['timeout-minutes'] * 60).toBeLessThan(2700);
  });

  it('never expands untrusted input inside a script (inputs reach scripts through env only)', () => {
    const untrusted = /\$\{\{[^}]*\b(inputs|github\.event|github\.head_ref)\b/;
    expect(scriptSteps.filter((step) => untrusted.test(step.run)).map((step) => step.name)).toEqual([]);
  });

  it('uses exactly the documented secrets, each only in the steps that need it', () => {
    const used = new Set([...source.matchAll(/\$\{\{\s*secrets\.([A-Z_]+)\s*\}\}/g)].map((match) => match[1]));
    expect([...used].sort()).toEqual([...SECRETS].sort());
    const stepsWith = (secret: string) =>
      steps.filter((step) => Object.values(step.env ?? {}).some((value) => value.includes(`secrets.${secret}`)));
    expect(stepsWith('HCLOUD_TOKEN').map((step) => step.name)).toEqual([
      'Create server',
      'Delete what an ended job built',
    ]);
    expect(stepsWith('TAILSCALE_AUTHKEY').map((step) => step.name)).toEqual(['Join tailnet']);
  });

  it('pins third-party actions to a commit', () => {
    const actions = steps.flatMap((step) => (step.uses ? [step.uses] : []));
    expect(actions.length).toBeGreaterThan(0);
    for (const action of actions) expect(action).toMatch(/^[\w.-]+\/[\w.-]+@[0-9a-f]{40}$/);
  });

  it('runs a playbook that targets the generated inventory group with ansible-core modules only', async () => {
    const script = stepNamed('Configure agent')?.run ?? '';
    expect(script).toContain('ansible/agent.yml');
    expect(script).toContain('all.children.agent.hosts');
    const [play] = parseYaml(await readFile(join(REPO_ROOT, 'ansible/agent.yml'), 'utf8')) as {
      hosts: string;
      tasks: Record<string, unknown>[];
      handlers: Record<string, unknown>[];
    }[];
    expect(play?.hosts).toBe('agent');
    const modules = [...(play?.tasks ?? []), ...(play?.handlers ?? [])].flatMap((task) =>
      Object.keys(task).filter((key) => !['name', 'notify', 'when', 'become'].includes(key)),
    );
    expect(modules.length).toBeGreaterThan(3);
    expect(modules.filter((module) => !module.startsWith('ansible.builtin.'))).toEqual([]);
  });

  it('heartbeats until the final report is answered: the heartbeat stops last, always, after both reports', () => {
    const names = steps.map((step) => step.name);
    expect(stepNamed('Stop heartbeat')?.if).toBe('always()');
    expect(names.at(-2)).toBe('Stop heartbeat');
    expect(names.indexOf('Start heartbeat')).toBeLessThan(names.indexOf('Create server'));
    expect(names.indexOf('Report running')).toBeLessThan(names.indexOf('Report failure'));
    expect(names.indexOf('Report failure')).toBeLessThan(names.indexOf('Stop heartbeat'));
    expect(stepNamed('Report failure')?.if).toContain('failure()');
  });

  it('stops at `ignored: terminal`: every later step is skipped, and the last one deletes what the run created', () => {
    const names = steps.map((step) => step.name);
    const afterStart = steps.slice(names.indexOf('Report provisioning') + 1, names.indexOf('Stop heartbeat'));
    expect(afterStart.map((step) => [step.name, step.if?.includes("env.JOB_ENDED != 'true'")])).toEqual(
      afterStart.map((step) => [step.name, true]),
    );
    const cleanUp = steps.at(-1);
    expect(cleanUp?.name).toBe('Delete what an ended job built');
    expect(cleanUp?.if).toBe('always()');
    expect(cleanUp?.run).toContain('JOB_ENDED_FILE');
    expect(cleanUp?.run).toContain('delete_job_resources');
  });

  it("bounds the work steps so the final report's 15 minutes of retries fit in the job, and the job in the server's timeout", () => {
    const job = workflow.jobs.provision['timeout-minutes'];
    const work = ['Create server', 'Join tailnet', 'Configure agent'].map(
      (name) => (stepNamed(name) as { 'timeout-minutes'?: number })?.['timeout-minutes'],
    );
    expect(work.every((minutes) => typeof minutes === 'number' && minutes > 0)).toBe(true);
    const workMinutes = work.reduce<number>((sum, minutes) => sum + (minutes ?? Infinity), 0);
    // One minute for checkout, setup and the first reports.
    expect(1 + workMinutes + FINAL_REPORT_RETRY_MS / 60_000).toBeLessThanOrEqual(job);
    expect(job * 60).toBeLessThan(2700);
  });
});
