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

/** A workflow run as the fake holds it. `inputs` are normalized like GitHub's `github.event.inputs` (strings). */
export interface WorkflowRun {
  id: number;
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
  | 'POST /repos/:owner/:repo/actions/runs/:runId/cancel'
  | 'GET /repos/:owner/:repo/actions/runs/:runId'
  | 'GET /:owner/:repo/actions/runs/:runId';

export interface GithubFakeOptions {
  /** Token the API requires as `Authorization: Bearer <token>`. @default 'fake-github-token' */
  token?: string;
  /** When set, only this `owner/repo` exists. */
  repository?: string;
  /** Dispatchable workflows by file name. @default provision-agent.yml, read from .github/workflows */
  workflows?: Record<string, Record<string, WorkflowInputSpec>>;
}

/** The in-memory GitHub Actions API. */
export interface GithubFake {
  url: string;
  token: string;
  state: { readonly runs: ReadonlyMap<number, WorkflowRun> };
  stop(): Promise<void>;
  inject(fault: Fault<GithubRoute>): void;
  /** Fails the next `count` dispatches with `status` (`Infinity` for every one). */
  failNext(count: number, status: number): void;
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
 * Reads the `workflow_dispatch` inputs of a workflow file, so the fake accepts exactly what GitHub would.
 * @param file absolute path or file URL of the workflow YAML
 */
export function readWorkflowInputs(file: string | URL): Record<string, WorkflowInputSpec> {
  const workflow: unknown = parseYaml(readFileSync(file, 'utf8'));
  const on = isRecord(workflow) ? workflow.on : undefined;
  const dispatch = isRecord(on) ? on.workflow_dispatch : undefined;
  const inputs = isRecord(dispatch) && isRecord(dispatch.inputs) ? dispatch.inputs : {};
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

/** Starts the fake GitHub API (dispatch, cancel, get run) on a random local port. */
export async function start(options: GithubFakeOptions = {}): Promise<GithubFake> {
  const token = options.token ?? 'fake-github-token';
  const workflows = options.workflows ?? {
    [PROVISION_WORKFLOW_FILE]: readWorkflowInputs(
      new URL(`../../.github/workflows/${PROVISION_WORKFLOW_FILE}`, import.meta.url),
    ),
  };
  const runs = new Map<number, WorkflowRun>();
  const events = new EventEmitter<{ dispatch: [WorkflowRun]; cancel: [WorkflowRun] }>();
  let nextRunId = 1_000_001;
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
        const inputSpecs = workflows[params.workflow ?? ''];
        if (!inputSpecs || !knownRepository(params.owner, params.repo)) return githubError(404, 'Not Found');
        if (!isRecord(body) || typeof body.ref !== 'string' || body.ref === '') {
          return githubError(422, 'Invalid request. "ref" wasn\'t supplied.');
        }
        const inputs = normalizeInputs(inputSpecs, body.inputs);
        if (typeof inputs === 'string') return githubError(422, inputs);
        const now = nowIso();
        const id = nextRunId++;
        const run: WorkflowRun = {
          id,
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
        if (body.return_run_details !== true) return { status: 204 };
        return { status: 200, body: { workflow_run_id: id, run_url: runJson(run).url, html_url: run.htmlUrl } };
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

/** Validates dispatch inputs the way GitHub does; returns the inputs with defaults applied, or GitHub's 422 message. */
function normalizeInputs(specs: Record<string, WorkflowInputSpec>, given: unknown): Record<string, string> | string {
  if (given !== undefined && !isRecord(given)) return 'Invalid request. For \'properties/inputs\', it is not an object.';
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
    if (typeof text !== 'string') return `Invalid request. For 'properties/${name}', ${JSON.stringify(value)} is not a string.`;
    if (spec.type === 'boolean' && text !== 'true' && text !== 'false') {
      return `Provided value '${text}' for input '${name}' not in the list of allowed values`;
    }
    inputs[name] = text;
  }
  return inputs;
}
