/**
 * `dispatchWorkflow` and `findWorkflowRunOfJob` over real HTTP against the fake GitHub: a retried dispatch never starts
 * a second run, whether the failed attempt was refused before GitHub created the run or answered after it had.
 */
import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { start as startGithub, type GithubFake } from '../../../local/fakes/github.ts';
import { ApiUnavailableError } from '../../../lambdas/shared/clients/api-client.ts';
import {
  DispatchRefusedError,
  dispatchWorkflow,
  findWorkflowRunOfJob,
  type GithubTarget,
} from '../../../lambdas/shared/clients/github.ts';

const REPOSITORY = 'acme/agent-infra';
const WORKFLOW_FILE = 'provision-agent.yml';

let github: GithubFake;
let target: GithubTarget;
beforeAll(async () => {
  github = await startGithub({ repository: REPOSITORY });
  target = { apiUrl: github.url, repository: REPOSITORY, token: github.token };
});
afterAll(() => github.stop());

const newJobId = () => `job-${randomUUID()}`;
const dispatchJob = (jobId: string) =>
  dispatchWorkflow(target, {
    workflowFile: WORKFLOW_FILE,
    ref: 'main',
    jobId,
    inputs: {
      agent_id: 'agent-1',
      agent_name: 'Scout',
      region: 'fsn1',
      callback_url: 'https://example.com/callbacks/github',
    },
  });
const runsOf = (jobId: string) => [...github.state.runs.values()].filter((run) => run.inputs.job_id === jobId);

describe('dispatchWorkflow', () => {
  it('dispatches once and returns the run GitHub reports', async () => {
    const jobId = newJobId();
    const run = await dispatchJob(jobId);
    const [created] = runsOf(jobId);
    expect(runsOf(jobId)).toHaveLength(1);
    expect(run).toEqual({ workflowRunId: String(created!.id), workflowRunUrl: created!.htmlUrl });
  });

  it('returns the run GitHub created when the answer to the dispatch was lost, and dispatches no second one', async () => {
    const jobId = newJobId();
    github.loseNextAnswers(1, 502);
    const run = await dispatchJob(jobId);
    const [created] = runsOf(jobId);
    expect(runsOf(jobId)).toHaveLength(1);
    expect(run).toEqual({ workflowRunId: String(created!.id), workflowRunUrl: created!.htmlUrl });
  });

  it('retries a dispatch refused with 503 before any run existed, and dispatches once', async () => {
    const jobId = newJobId();
    github.failNext(2, 503);
    const run = await dispatchJob(jobId);
    expect(runsOf(jobId)).toHaveLength(1);
    expect(run.workflowRunId).toBe(String(runsOf(jobId)[0]!.id));
  });

  it("takes no other job's recent run for this job's", async () => {
    const other = newJobId();
    await dispatchJob(other);
    // A job id the other one starts with: only a whole word of the title matches.
    const jobId = other.slice(0, -4);
    github.loseNextAnswers(1, 504);
    github.failNext(1, 503);
    const run = await dispatchJob(jobId);
    // The lost answer's run is this job's; the other job's, just as recent, is not taken.
    expect(runsOf(jobId)).toHaveLength(1);
    expect(run.workflowRunId).toBe(String(runsOf(jobId)[0]!.id));
    expect(runsOf(other)).toHaveLength(1);
  });

  it('does not dispatch again while the lookup fails, and gives up within its budget', async () => {
    const isolated = await startGithub({ repository: REPOSITORY });
    try {
      const jobId = newJobId();
      isolated.loseNextAnswers(1, 502);
      isolated.inject({
        route: 'GET /repos/:owner/:repo/actions/workflows/:workflow/runs',
        status: 503,
        times: Infinity,
      });
      const dispatch = dispatchWorkflow(
        { apiUrl: isolated.url, repository: REPOSITORY, token: isolated.token },
        {
          workflowFile: WORKFLOW_FILE,
          ref: 'main',
          jobId,
          inputs: { agent_id: 'a', agent_name: 'A', region: 'fsn1', callback_url: 'https://example.com/c' },
        },
      );
      await expect(dispatch).rejects.toBeInstanceOf(ApiUnavailableError);
      expect(isolated.state.runs.size).toBe(1);
    } finally {
      await isolated.stop();
    }
  }, 30_000);

  it('keeps a 4xx a DispatchRefusedError, not retried', async () => {
    const jobId = newJobId();
    github.failNext(1, 422);
    await expect(dispatchJob(jobId)).rejects.toBeInstanceOf(DispatchRefusedError);
    expect(runsOf(jobId)).toHaveLength(0);
  });
});

describe('findWorkflowRunOfJob', () => {
  it('finds the run of a job among recent runs, and none created before the bound', async () => {
    const jobId = newJobId();
    const { workflowRunId } = await dispatchJob(jobId);
    const query = { workflowFile: WORKFLOW_FILE, jobId };
    const created = runsOf(jobId)[0]!.createdAt;
    expect(await findWorkflowRunOfJob(target, { ...query, createdSince: created })).toMatchObject({ workflowRunId });
    const later = new Date(Date.parse(created) + 1).toISOString();
    expect(await findWorkflowRunOfJob(target, { ...query, createdSince: later })).toBeUndefined();
    expect(await findWorkflowRunOfJob(target, { ...query, jobId: newJobId(), createdSince: created })).toBeUndefined();
  });

  it('pages past a full page of newer runs of other jobs', async () => {
    const since = new Date(Date.now() - 1_000).toISOString();
    const jobId = newJobId();
    const { workflowRunId } = await dispatchJob(jobId);
    for (let index = 0; index < 100; index++) await dispatchJob(newJobId());
    expect(
      await findWorkflowRunOfJob(target, { workflowFile: WORKFLOW_FILE, jobId, createdSince: since }),
    ).toMatchObject({ workflowRunId });
  });
});
