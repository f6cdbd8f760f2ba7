import { EventEmitter } from 'node:events';
import { readFileSync } from 'node:fs';
import { parse as parseYaml } from 'yaml';
import { isRecord, nowIso, startFakeServer, type FakeReply, type Fault } from './http.ts';

/** One `workflow_dispatch` input as the workflow file declares it. */
export interface WorkflowInputSpec {
  type: 'string' | 'boolean';
  required: boolean;
  default?: string;
}

export type WorkflowRunStatus = 'queued' | 'in_progress' | 'completed';
export type WorkflowRunConclusion = 'success' | 'failure' | 'cancelled';

/** A dispatchable workflow: its `workflow_dispatch` inputs and its `run-name` (with `${{ inputs.<name> }}`), if any. */
export interface WorkflowSpec {
  inputs: Record<string, WorkflowInputSpec>;
  runName?: string;
}

/** A workflow run as the fake holds it. `inputs` are normalized like GitHub's `github.event.inputs` (strings). */
export interface WorkflowRun {
  id: number;
  /** `display_title`: the workflow's `run-name` with the inputs filled in, else the workflow's name. */
  title: string;
  runNumber: number;
  owner: string;
  repo: string;
  workflow: string;
  ref: string;
  inputs: Readonly<Record<string, string>>;
  status: WorkflowRunStatus;
  conclusion: WorkflowRunConclusion | null;
  htmlUrl: string;
  createdAt: string;
  updatedAt: string;
  /** Log lines, served as text at `htmlUrl` so the dashboard's "run logs" link works locally. */
  log: string[];
}

export type GithubRoute =
  | 'POST /repos/:owner/:repo/actions/workflows/:workflow/dispatches'
  | 'GET /repos/:owner/:repo/actions/workflows/:workflow/runs'
  | 'POST /repos/:owner/:repo/actions/runs/:runId/cancel'
  | 'GET /repos/:owner/:repo/actions/runs/:runId'
  | 'GET /:owner/:repo/actions/runs/:runId';

export interface GithubFakeOptions {
  /** Token the API requires as `Authorization: Bearer <token>`. @default 'fake-github-token' */
  token?: string;
  /** When set, only this `owner/repo` exists. */
  repository?: string;
  /** Dispatchable workflows by file name. @default provision-agent.yml, read from .github/workflows */
  workflows?: Record<string, WorkflowSpec>;
}

/** The in-memory GitHub Actions API. */
export interface GithubFake {
  url: string;
  token: string;
  state: { readonly runs: ReadonlyMap<number, WorkflowRun> };
  stop(): Promise<void>;
  inject(fault: Fault<GithubRoute>): void;
  /** Fails the next `count` dispatches with `status` (`Infinity` for every one): no run is created. */
  failNext(count: number, status: number): void;
  /**
   * Accepts the next `count` dispatches (the run exists, listeners hear of it) but answers `status`, as a proxy's 502
   * or 504 after the fact does: the caller cannot tell whether a run was started.
   */
  loseNextAnswers(count: number, status?: number): void;
  /** Calls `listener` for every accepted dispatch, after the run exists; returns the unsubscribe function. */
  onDispatch(listener: (run: WorkflowRun) => void): () => void;
  /** Calls `listener` when a run is cancelled through the API; returns the unsubscribe function. */
  onCancel(listener: (run: WorkflowRun) => void): () => void;
  /** Moves a run along (what the Actions runner does); a completed run never changes again. */
  updateRun(runId: number, update: { status: WorkflowRunStatus; conclusion?: WorkflowRunConclusion }): void;
  appendLog(runId: number, line: string): void;
}

const PROVISION_WORKFLOW_FILE = 'provision-agent.yml';
const DISPATCH_ROUTE = 'POST /repos/:owner/:repo/actions/workflows/:workflow/dispatches' satisfies GithubRoute;

/**
 * Reads the `workflow_dispatch` inputs and the `run-name` of a workflow file, so the fake accepts exactly what GitHub
 * would and titles its runs the same way.
 * @param file absolute path or file URL of the workflow YAML
 */
export function readWorkflow(file: string | URL): WorkflowSpec {
  const workflow: unknown = parseYaml(readFileSync(file, 'utf8'));
  const runName = isRecord(workflow) && typeof workflow['run-name'] === 'string' ? workflow['run-name'] : undefined;
  const on = isRecord(workflow) ? workflow.on : undefined;
  const dispatch = isRecord(on) ? on.workflow_dispatch : undefined;
  const inputs = isRecord(dispatch) && isRecord(dispatch.inputs) ? dispatch.inputs : {};
  return { inputs: readInputs(inputs), ...(runName === undefined ? {} : { runName }) };
}

function readInputs(inputs: Record<string, unknown>): Record<string, WorkflowInputSpec> {
  return Object.fromEntries(
    Object.entries(inputs).map(([name, spec]) => {
      const input = isRecord(spec) ? spec : {};
      return [
        name,
        {
          type: input.type === 'boolean' ? 'boolean' : 'string',
          required: input.required === true,
          ...(input.default === undefined ? {} : { default: String(input.default) }),
        },
      ];
    }),
  );
}

/** Starts the fake GitHub API (dispatch, list a workflow's runs, cancel, get run) on a random local port. */
export async function start(options: GithubFakeOptions = {}): Promise<GithubFake> {
  const token = options.token ?? 'fake-github-token';
  const workflows = options.workflows ?? {
    [PROVISION_WORKFLOW_FILE]: readWorkflow(
      new URL(`../../.github/workflows/${PROVISION_WORKFLOW_FILE}`, import.meta.url),
    ),
  };
  const runs = new Map<number, WorkflowRun>();
  const events = new EventEmitter<{ dispatch: [WorkflowRun]; cancel: [WorkflowRun] }>();
  let nextRunId = 1_000_001;
  const lostAnswers = { count: 0, status: 502 };
  let url = '';

  const githubError = (status: number, message: string): FakeReply => ({
    status,
    body: { message, documentation_url: 'https://docs.github.com/rest', status: String(status) },
  });
  const knownRepository = (owner = '', repo = '') =>
    options.repository === undefined || options.repository === `${owner}/${repo}`;
  const findRun = (params: Record<string, string>): WorkflowRun | undefined => {
    const run = runs.get(Number(params.runId));
    return run && run.owner === params.owner && run.repo === params.repo ? run : undefined;
  };
  const runJson = (run: WorkflowRun) => {
    const apiUrl = `${url}/repos/${run.owner}/${run.repo}/actions/runs/${run.id}`;
    return {
      id: run.id,
      name: run.workflow.replace(/\.ya?ml$/, ''),
      path: `.github/workflows/${run.workflow}`,
      display_title: run.title,
      run_number: run.runNumber,
      run_attempt: 1,
      event: 'workflow_dispatch',
      head_branch: run.ref,
      status: run.status,
      conclusion: run.conclusion,
      url: apiUrl,
      cancel_url: `${apiUrl}/cancel`,
      html_url: run.htmlUrl,
      created_at: run.createdAt,
      updated_at: run.updatedAt,
    };
  };

  const server = await startFakeServer<GithubRoute>({
    token,
    errorBody: (status, message) => githubError(status, message).body,
    publicRoutes: ['GET /:owner/:repo/actions/runs/:runId'],
    routes: {
      [DISPATCH_ROUTE]: ({ params, body }) => {
        const workflow = workflows[params.workflow ?? ''];
        if (!workflow || !knownRepository(params.owner, params.repo)) return githubError(404, 'Not Found');
        if (!isRecord(body) || typeof body.ref !== 'string' || body.ref === '') {
          return githubError(422, 'Invalid request. "ref" wasn\'t supplied.');
        }
        const inputs = normalizeInputs(workflow.inputs, body.inputs);
        if (typeof inputs === 'string') return githubError(422, inputs);
        const now = nowIso();
        const id = nextRunId++;
        const run: WorkflowRun = {
          id,
          title: runTitle(workflow.runName, inputs) ?? (params.workflow ?? '').replace(/\.ya?ml$/, ''),
          runNumber: runs.size + 1,
          owner: params.owner ?? '',
          repo: params.repo ?? '',
          workflow: params.workflow ?? '',
          ref: body.ref,
          inputs,
          status: 'queued',
          conclusion: null,
          htmlUrl: `${url}/${params.owner}/${params.repo}/actions/runs/${id}`,
          createdAt: now,
          updatedAt: now,
          log: [],
        };
        runs.set(id, run);
        events.emit('dispatch', run);
        if (lostAnswers.count > 0) {
          lostAnswers.count -= 1;
          return githubError(
            lostAnswers.status,
            `Injected fault after the run was created: HTTP ${lostAnswers.status}`,
          );
        }
        if (body.return_run_details !== true) return { status: 204 };
        return { status: 200, body: { workflow_run_id: id, run_url: runJson(run).url, html_url: run.htmlUrl } };
      },
      'GET /repos/:owner/:repo/actions/workflows/:workflow/runs': ({ params, query }) => {
        if (!workflows[params.workflow ?? ''] || !knownRepository(params.owner, params.repo))
          return githubError(404, 'Not Found');
        const created = createdFilter(query.get('created'));
        if (created === undefined) return githubError(422, `Unsupported "created" qualifier: ${query.get('created')}`);
        const event = query.get('event');
        const perPage = Math.min(Number(query.get('per_page') ?? 30) || 30, 100);
        const page = Math.max(Number(query.get('page') ?? 1) || 1, 1);
        const matching = [...runs.values()]
          .filter((run) => run.owner === params.owner && run.repo === params.repo && run.workflow === params.workflow)
          .filter((run) => (event === null || event === 'workflow_dispatch') && created(run.createdAt))
          .sort((a, b) => b.id - a.id);
        const workflowRuns = matching.slice((page - 1) * perPage, page * perPage).map(runJson);
        return { status: 200, body: { total_count: matching.length, workflow_runs: workflowRuns } };
      },
      'POST /repos/:owner/:repo/actions/runs/:runId/cancel': ({ params }) => {
        const run = findRun(params);
        if (!run) return githubError(404, 'Not Found');
        if (run.status === 'completed') return githubError(409, 'Cannot cancel a workflow run that is completed.');
        setRun(run, { status: 'completed', conclusion: 'cancelled' });
        events.emit('cancel', run);
        return { status: 202, body: {} };
      },
      'GET /repos/:owner/:repo/actions/runs/:runId': ({ params }) => {
        const run = findRun(params);
        return run ? { status: 200, body: runJson(run) } : githubError(404, 'Not Found');
      },
      'GET /:owner/:repo/actions/runs/:runId': ({ params }) => {
        const run = findRun(params);
        if (!run) return githubError(404, 'Not Found');
        const header = `${run.workflow} #${run.runNumber}: ${run.status}${run.conclusion ? ` (${run.conclusion})` : ''}`;
        return { status: 200, contentType: 'text/plain; charset=utf-8', body: [header, ...run.log].join('\n') };
      },
    },
  });
  url = server.url;

  const subscribe = (event: 'dispatch' | 'cancel', listener: (run: WorkflowRun) => void) => {
    events.on(event, listener);
    return () => void events.off(event, listener);
  };

  return {
    url,
    token,
    state: { runs },
    stop: server.stop,
    inject: server.inject,
    failNext: (count, status) => server.inject({ route: DISPATCH_ROUTE, status, times: count }),
    loseNextAnswers: (count, status = 502) => Object.assign(lostAnswers, { count, status }),
    onDispatch: (listener) => subscribe('dispatch', listener),
    onCancel: (listener) => subscribe('cancel', listener),
    updateRun: (runId, update) => {
      const run = runs.get(runId);
      if (run && run.status !== 'completed') setRun(run, update);
    },
    appendLog: (runId, line) => void runs.get(runId)?.log.push(`${nowIso()} ${line}`),
  };
}

function setRun(run: WorkflowRun, update: { status: WorkflowRunStatus; conclusion?: WorkflowRunConclusion }): void {
  run.status = update.status;
  run.conclusion = update.conclusion ?? null;
  run.updatedAt = nowIso();
}

/** A run's title from the workflow's `run-name`: `${{ inputs.<name> }}` expressions filled in, nothing else. */
function runTitle(runName: string | undefined, inputs: Readonly<Record<string, string>>): string | undefined {
  return runName?.replace(/\$\{\{\s*inputs\.(\w+)\s*\}\}/g, (_, name: string) => inputs[name] ?? '');
}

/**
 * The `created` filter of the runs list (GitHub's search date qualifiers `>=`, `>`, `<=`, `<` with an ISO time); no
 * qualifier takes every run, one the fake does not know is undefined.
 */
function createdFilter(qualifier: string | null): ((createdAt: string) => boolean) | undefined {
  if (qualifier === null) return () => true;
  const match = /^(>=|>|<=|<)(.+)$/.exec(qualifier);
  const bound = match ? Date.parse(match[2] ?? '') : Number.NaN;
  if (!match || Number.isNaN(bound)) return undefined;
  const compare = {
    '>=': (t: number) => t >= bound,
    '>': (t: number) => t > bound,
    '<=': (t: number) => t <= bound,
    '<': (t: number) => t < bound,
  };
  return (createdAt) => compare[match[1] as keyof typeof compare](Date.parse(createdAt));
}

/** Validates dispatch inputs the way GitHub does; returns the inputs with defaults applied, or GitHub's 422 message. */
function normalizeInputs(specs: Record<string, WorkflowInputSpec>, given: unknown): Record<string, string> | string {
  if (given !== undefined && !isRecord(given)) return "Invalid request. For 'properties/inputs', it is not an object.";
  const provided = given ?? {};
  const unexpected = Object.keys(provided).filter((name) => !(name in specs));
  if (unexpected.length > 0) return `Unexpected inputs provided: ${JSON.stringify(unexpected)}`;
  const inputs: Record<string, string> = {};
  for (const [name, spec] of Object.entries(specs)) {
    const value = provided[name];
    if (value === undefined) {
      if (spec.required && spec.default === undefined) return `Required input '${name}' not provided`;
      if (spec.default !== undefined) inputs[name] = spec.default;
      continue;
    }
    const text = typeof value === 'boolean' && spec.type === 'boolean' ? String(value) : value;
    if (typeof text !== 'string')
      return `Invalid request. For 'properties/${name}', ${JSON.stringify(value)} is not a string.`;
    if (spec.type === 'boolean' && text !== 'true' && text !== 'false') {
      return `Provided value '${text}' for input '${name}' not in the list of allowed values`;
    }
    inputs[name] = text;
  }
  return inputs;
}
