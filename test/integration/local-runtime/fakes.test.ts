import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import * as githubFake from '../../../local/fakes/github.ts';
import * as hetznerFake from '../../../local/fakes/hetzner.ts';
import * as tailscaleFake from '../../../local/fakes/tailscale.ts';
import { serverTypeFor } from '../../../lambdas/domain/regions.ts';

/** A JSON call the way our Lambdas make it: bearer token, JSON body; answers status and parsed body. */
async function call(url: string, token: string | undefined, method = 'GET', body?: unknown) {
  const response = await fetch(url, {
    method,
    headers: { ...(token ? { Authorization: `Bearer ${token}` } : {}), 'Content-Type': 'application/json' },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const text = await response.text();
  return { status: response.status, body: text === '' ? undefined : (JSON.parse(text) as Record<string, any>) };
}

const dispatchInputs = {
  job_id: 'job-1',
  agent_id: 'agent-1',
  agent_name: 'Scout',
  region: 'fsn1',
  callback_url: 'http://127.0.0.1:1/callbacks/github',
};

describe('fake GitHub', () => {
  let github: githubFake.GithubFake;
  let dispatchUrl: string;
  const dispatched: githubFake.WorkflowRun[] = [];
  beforeAll(async () => {
    github = await githubFake.start({ repository: 'acme/agents' });
    github.onDispatch((run) => dispatched.push(run));
    dispatchUrl = `${github.url}/repos/acme/agents/actions/workflows/provision-agent.yml/dispatches`;
  });
  afterAll(() => github.stop());

  it('reads the dispatch inputs and the run name from the real workflow file', () => {
    expect(githubFake.readWorkflow(new URL('../../../.github/workflows/provision-agent.yml', import.meta.url))).toEqual(
      {
        inputs: {
          job_id: { type: 'string', required: true },
          agent_id: { type: 'string', required: true },
          agent_name: { type: 'string', required: true },
          region: { type: 'string', required: true },
          callback_url: { type: 'string', required: true },
          dry_run: { type: 'boolean', required: false, default: 'false' },
        },
        runName: 'Provision job ${{ inputs.job_id }}',
      },
    );
  });

  it('requires the bearer token', async () => {
    const before = dispatched.length;
    expect((await call(dispatchUrl, undefined, 'POST', { ref: 'main', inputs: dispatchInputs })).status).toBe(401);
    expect((await call(dispatchUrl, 'wrong', 'POST', { ref: 'main', inputs: dispatchInputs })).body).toMatchObject({
      message: 'Bad credentials',
    });
    expect(dispatched).toHaveLength(before);
  });

  it('dispatches with run details, applies input defaults and tells the listener', async () => {
    const { status, body } = await call(dispatchUrl, github.token, 'POST', {
      ref: 'main',
      inputs: dispatchInputs,
      return_run_details: true,
    });
    expect(status).toBe(200);
    const run = dispatched.at(-1)!;
    expect(body).toEqual({
      workflow_run_id: run.id,
      run_url: `${github.url}/repos/acme/agents/actions/runs/${run.id}`,
      html_url: run.htmlUrl,
    });
    expect(run.inputs).toEqual({ ...dispatchInputs, dry_run: 'false' });

    const fetched = await call(`${github.url}/repos/acme/agents/actions/runs/${run.id}`, github.token);
    expect(fetched.body).toMatchObject({ id: run.id, status: 'queued', conclusion: null, event: 'workflow_dispatch' });
  });

  it('answers 204 without run details', async () => {
    const response = await call(dispatchUrl, github.token, 'POST', {
      ref: 'main',
      inputs: { ...dispatchInputs, dry_run: true },
    });
    expect(response).toEqual({ status: 204, body: undefined });
    expect(dispatched.at(-1)?.inputs.dry_run).toBe('true');
  });

  it.each([
    [{ inputs: dispatchInputs }, '"ref"'],
    [{ ref: 'main', inputs: { ...dispatchInputs, extra: 'x' } }, 'Unexpected inputs provided: ["extra"]'],
    [{ ref: 'main', inputs: { ...dispatchInputs, job_id: undefined } }, "Required input 'job_id' not provided"],
    [{ ref: 'main', inputs: { ...dispatchInputs, dry_run: 'maybe' } }, "input 'dry_run'"],
    [{ ref: 'main', inputs: { ...dispatchInputs, region: 7 } }, 'is not a string'],
  ])('refuses an invalid dispatch with 422 and starts nothing: %j', async (request, message) => {
    const before = dispatched.length;
    const response = await call(dispatchUrl, github.token, 'POST', request);
    expect(response.status).toBe(422);
    expect(response.body?.message).toContain(message);
    expect(dispatched).toHaveLength(before);
  });

  it('answers 404 for another repository or workflow', async () => {
    const body = { ref: 'main', inputs: dispatchInputs };
    expect((await call(dispatchUrl.replace('acme/agents', 'acme/other'), github.token, 'POST', body)).status).toBe(404);
    expect((await call(dispatchUrl.replace('provision-agent', 'other'), github.token, 'POST', body)).status).toBe(404);
  });

  it('fails the next dispatches on request: 503 twice then accepted', async () => {
    const before = dispatched.length;
    github.failNext(2, 503);
    const statuses = [];
    for (let attempt = 0; attempt < 3; attempt++) {
      statuses.push((await call(dispatchUrl, github.token, 'POST', { ref: 'main', inputs: dispatchInputs })).status);
    }
    expect(statuses).toEqual([503, 503, 204]);
    expect(dispatched).toHaveLength(before + 1);
  });

  it('creates the run but answers 502 on request: the ambiguous dispatch', async () => {
    const before = dispatched.length;
    github.loseNextAnswers(1);
    const lost = await call(dispatchUrl, github.token, 'POST', {
      ref: 'main',
      inputs: dispatchInputs,
      return_run_details: true,
    });
    expect(lost.status).toBe(502);
    expect(dispatched).toHaveLength(before + 1);
    expect((await call(dispatchUrl, github.token, 'POST', { ref: 'main', inputs: dispatchInputs })).status).toBe(204);
  });

  it("lists a workflow's runs newest first, titled by its run-name, filtered by event and creation time", async () => {
    const runsUrl = `${github.url}/repos/acme/agents/actions/workflows/provision-agent.yml/runs`;
    await call(dispatchUrl, github.token, 'POST', { ref: 'main', inputs: { ...dispatchInputs, job_id: 'job-listed' } });
    const newest = dispatched.at(-1)!;
    const since = new URLSearchParams({ event: 'workflow_dispatch', created: `>=${newest.createdAt}` });
    const { status, body } = await call(`${runsUrl}?${since}`, github.token);
    expect(status).toBe(200);
    expect(body?.workflow_runs[0]).toMatchObject({
      id: newest.id,
      display_title: 'Provision job job-listed',
      html_url: newest.htmlUrl,
    });
    expect(body?.workflow_runs.every((run: { created_at: string }) => run.created_at >= newest.createdAt)).toBe(true);

    const all = await call(`${runsUrl}?per_page=2&page=1`, github.token);
    expect(all.body?.total_count).toBe(dispatched.length);
    expect(all.body?.workflow_runs.map((run: { id: number }) => run.id)).toEqual([newest.id, dispatched.at(-2)!.id]);
    expect((await call(`${runsUrl}?event=push`, github.token)).body?.workflow_runs).toEqual([]);
    expect(
      (
        await call(
          `${runsUrl}?created=${encodeURIComponent(`>${new Date(Date.now() + 60_000).toISOString()}`)}`,
          github.token,
        )
      ).body?.total_count,
    ).toBe(0);
    expect((await call(`${runsUrl}?created=yesterday`, github.token)).status).toBe(422);
    expect((await call(runsUrl.replace('acme/agents', 'acme/other'), github.token)).status).toBe(404);
  });

  it('cancels a live run once (202, then 409) and tells the listener', async () => {
    const cancelled: number[] = [];
    const unsubscribe = github.onCancel((run) => cancelled.push(run.id));
    await call(dispatchUrl, github.token, 'POST', { ref: 'main', inputs: dispatchInputs });
    const run = dispatched.at(-1)!;
    const cancelUrl = `${github.url}/repos/acme/agents/actions/runs/${run.id}/cancel`;

    expect((await call(cancelUrl, github.token, 'POST')).status).toBe(202);
    expect((await call(cancelUrl, github.token, 'POST')).body).toMatchObject({
      message: expect.stringContaining('completed'),
    });
    expect(cancelled).toEqual([run.id]);
    expect((await call(`${github.url}/repos/acme/agents/actions/runs/${run.id}`, github.token)).body).toMatchObject({
      status: 'completed',
      conclusion: 'cancelled',
    });
    expect((await call(`${github.url}/repos/acme/agents/actions/runs/999/cancel`, github.token, 'POST')).status).toBe(
      404,
    );
    unsubscribe();
  });

  it('serves a run log page at html_url without a token', async () => {
    const run = dispatched.at(-1)!;
    github.appendLog(run.id, 'vm_created reported');
    const response = await fetch(run.htmlUrl);
    expect(response.status).toBe(200);
    expect(await response.text()).toContain('vm_created reported');
  });

  it('fails every dispatch with failNext(Infinity, 422)', async () => {
    const isolated = await githubFake.start();
    try {
      isolated.failNext(Infinity, 422);
      const url = `${isolated.url}/repos/a/b/actions/workflows/provision-agent.yml/dispatches`;
      for (let attempt = 0; attempt < 3; attempt++) {
        expect((await call(url, isolated.token, 'POST', { ref: 'main', inputs: dispatchInputs })).status).toBe(422);
      }
      expect(isolated.state.runs.size).toBe(0);
    } finally {
      await isolated.stop();
    }
  });
});

describe('fake Hetzner', () => {
  let hetzner: hetznerFake.HetznerFake;
  let slowHetzner: hetznerFake.HetznerFake;
  beforeAll(async () => {
    hetzner = await hetznerFake.start({ actionDelayMs: 0 });
    slowHetzner = await hetznerFake.start({ actionDelayMs: 60_000 });
  });
  afterAll(() => Promise.all([hetzner.stop(), slowHetzner.stop()]));

  const createServer = (fake: hetznerFake.HetznerFake, name: string, labels: Record<string, string>) =>
    call(`${fake.url}/servers`, fake.token, 'POST', {
      name,
      server_type: serverTypeFor('fsn1'),
      image: 'ubuntu-24.04',
      location: 'fsn1',
      labels,
    });

  /** Polls an action until it leaves `running` (bounded). */
  async function settled(fake: hetznerFake.HetznerFake, actionId: number) {
    for (let poll = 0; poll < 100; poll++) {
      const { body } = await call(`${fake.url}/actions/${actionId}`, fake.token);
      if (body?.action.status !== 'running') return body?.action;
      await new Promise((resolve) => setTimeout(resolve, 10));
    }
    throw new Error(`action ${actionId} never settled`);
  }

  const createIn = (serverType: string, location: string, name: string) =>
    call(`${hetzner.url}/servers`, hetzner.token, 'POST', {
      name,
      server_type: serverType,
      image: 'ubuntu-24.04',
      location,
      labels: { job_id: name, agent_id: name },
    });

  it('lists the server types sold in each location, and the locations', async () => {
    const types = await call(`${hetzner.url}/server_types`, hetzner.token);
    expect(types.status).toBe(200);
    const soldIn = (name: string) =>
      types.body?.server_types
        .find((candidate: { name: string }) => candidate.name === name)
        ?.locations.map((entry: { name: string }) => entry.name);
    expect(soldIn('cx23')).toEqual(['fsn1', 'nbg1', 'hel1']);
    expect(soldIn('cpx22')).toEqual(['fsn1', 'nbg1', 'hel1', 'sin']);
    expect(soldIn('cpx21')).toEqual(['ash', 'hil']);
    expect(soldIn('cx22')).toBeUndefined();
    const byName = await call(`${hetzner.url}/server_types?name=cpx21`, hetzner.token);
    expect(byName.body?.server_types).toEqual([
      expect.objectContaining({
        name: 'cpx21',
        cores: 3,
        memory: 4,
        locations: [
          expect.objectContaining({ name: 'ash', available: true, deprecation: null }),
          expect.objectContaining({ name: 'hil', available: true, deprecation: null }),
        ],
      }),
    ]);
    const locations = await call(`${hetzner.url}/locations`, hetzner.token);
    expect(locations.body?.locations.map((entry: { name: string }) => entry.name)).toEqual([
      'fsn1',
      'nbg1',
      'hel1',
      'ash',
      'hil',
      'sin',
    ]);
    expect((await call(`${hetzner.url}/locations?name=ash`, hetzner.token)).body?.locations).toEqual([
      expect.objectContaining({ name: 'ash', country: 'US', network_zone: 'us-east' }),
    ]);
  });

  it('answers GET /datacenters 410, as Hetzner has since it removed them', async () => {
    for (const path of ['/datacenters', '/datacenters/1']) {
      const response = await call(`${hetzner.url}${path}`, hetzner.token);
      expect(response.status).toBe(410);
      expect(response.body?.error).toEqual({
        code: 'deprecated_api_endpoint',
        message: 'API functionality was removed',
        details: { announcement: expect.stringContaining('docs.hetzner.cloud/changelog') },
      });
    }
  });

  it("refuses a server type its location does not sell, with Hetzner's answer, and creates nothing", async () => {
    const before = hetzner.state.servers.size;
    expect(await createIn('cx22', 'ash', 'agent-gen2-us')).toEqual({
      status: 422,
      body: { error: { code: 'invalid_input', message: "server type 'cx22' not found", details: {} } },
    });
    for (const [serverType, location] of [
      ['cx23', 'ash'],
      ['cax11', 'hil'],
      ['cpx22', 'ash'],
      ['cpx21', 'fsn1'],
    ] as const) {
      expect(await createIn(serverType, location, `agent-${serverType}-${location}`)).toEqual({
        status: 422,
        body: { error: { code: 'invalid_input', message: 'unsupported location for server type', details: {} } },
      });
    }
    expect((await createIn('cpx21', 'mars1', 'agent-mars')).body?.error).toMatchObject({
      code: 'invalid_input',
      message: "location 'mars1' not found",
    });
    expect(hetzner.state.servers.size).toBe(before);

    const created = await createIn('cpx21', 'ash', 'agent-cpx21-ash');
    expect(created.status).toBe(201);
    expect(created.body?.server).toMatchObject({
      server_type: { name: 'cpx21' },
      location: { name: 'ash', network_zone: 'us-east' },
    });
    expect(created.body?.server).not.toHaveProperty('datacenter');
  });

  it('answers a sold-out server type 412 resource_unavailable until it is restocked', async () => {
    hetzner.setAvailable('cpx22', 'hel1', false);
    try {
      expect(await createIn('cpx22', 'hel1', 'agent-sold-out')).toEqual({
        status: 412,
        body: { error: { code: 'resource_unavailable', message: 'error during placement', details: null } },
      });
      const listed = await call(`${hetzner.url}/server_types?name=cpx22`, hetzner.token);
      expect(listed.body?.server_types[0].locations).toContainEqual(
        expect.objectContaining({ name: 'hel1', available: false }),
      );
      expect((await createIn('cpx22', 'fsn1', 'agent-in-stock')).status).toBe(201);
    } finally {
      hetzner.setAvailable('cpx22', 'hel1', true);
    }
    expect((await createIn('cpx22', 'hel1', 'agent-restocked')).status).toBe(201);
  });

  it('requires the bearer token', async () => {
    const response = await call(`${hetzner.url}/servers`, undefined);
    expect(response.status).toBe(401);
    expect(response.body?.error.code).toBe('unauthorized');
  });

  it('creates a labelled server whose create action succeeds, and finds it by label', async () => {
    const created = await createServer(hetzner, 'agent-job-a', { job_id: 'job-a', agent_id: 'agent-a' });
    expect(created.status).toBe(201);
    expect(created.body?.server).toMatchObject({
      name: 'agent-job-a',
      status: 'initializing',
      labels: { job_id: 'job-a' },
    });
    expect(created.body?.action).toMatchObject({ command: 'create_server', status: 'running' });

    expect(await settled(hetzner, created.body?.action.id)).toMatchObject({ status: 'success', progress: 100 });
    const serverUrl = `${hetzner.url}/servers/${created.body?.server.id}`;
    expect((await call(serverUrl, hetzner.token)).body?.server.status).toBe('running');

    await createServer(hetzner, 'agent-job-b', { job_id: 'job-b' });
    const listed = await call(
      `${hetzner.url}/servers?label_selector=${encodeURIComponent('job_id=job-a')}`,
      hetzner.token,
    );
    expect(listed.body?.servers.map((server: { name: string }) => server.name)).toEqual(['agent-job-a']);
    expect(listed.body?.meta.pagination.total_entries).toBe(1);
    const unlabelled = await call(
      `${hetzner.url}/servers?label_selector=${encodeURIComponent('!agent_id')}`,
      hetzner.token,
    );
    expect(unlabelled.body?.servers.map((server: { name: string }) => server.name)).toEqual(['agent-job-b']);
  });

  it('keeps an action running until its delay has passed', async () => {
    const created = await createServer(slowHetzner, 'agent-slow', { job_id: 'slow' });
    expect(
      (await call(`${slowHetzner.url}/actions/${created.body?.action.id}`, slowHetzner.token)).body?.action.status,
    ).toBe('running');
    expect(
      (await call(`${slowHetzner.url}/servers/${created.body?.server.id}`, slowHetzner.token)).body?.server.status,
    ).toBe('initializing');
  });

  it('powers a server off and on through actions', async () => {
    const created = await createServer(hetzner, 'agent-power', { job_id: 'power' });
    const serverUrl = `${hetzner.url}/servers/${created.body?.server.id}`;
    await settled(hetzner, created.body?.action.id);

    const off = await call(`${serverUrl}/actions/poweroff`, hetzner.token, 'POST');
    expect(off.status).toBe(201);
    await settled(hetzner, off.body?.action.id);
    expect((await call(serverUrl, hetzner.token)).body?.server.status).toBe('off');

    const on = await call(`${serverUrl}/actions/poweron`, hetzner.token, 'POST');
    await settled(hetzner, on.body?.action.id);
    expect((await call(serverUrl, hetzner.token)).body?.server.status).toBe('running');
    expect((await call(`${serverUrl}/actions/explode`, hetzner.token, 'POST')).status).toBe(404);
  });

  it('deletes a server once: 200 with an action, then 404', async () => {
    const created = await createServer(hetzner, 'agent-gone', { job_id: 'gone' });
    const serverUrl = `${hetzner.url}/servers/${created.body?.server.id}`;
    const deleted = await call(serverUrl, hetzner.token, 'DELETE');
    expect(deleted.status).toBe(200);
    expect(deleted.body?.action.command).toBe('delete_server');
    expect((await call(serverUrl, hetzner.token, 'DELETE')).body?.error.code).toBe('not_found');
    expect((await call(serverUrl, hetzner.token)).status).toBe(404);
    expect((await call(`${hetzner.url}/servers?label_selector=job_id%3Dgone`, hetzner.token)).body?.servers).toEqual(
      [],
    );
  });

  it('refuses invalid servers, duplicate names and bad labels with 4xx', async () => {
    expect((await call(`${hetzner.url}/servers`, hetzner.token, 'POST', { name: 'x' })).status).toBe(422);
    expect((await createServer(hetzner, 'agent-label', { job_id: 'has space' })).status).toBe(422);
    await createServer(hetzner, 'agent-twice', {});
    expect((await createServer(hetzner, 'agent-twice', {})).body?.error.code).toBe('uniqueness_error');
  });

  it('injects faults per route', async () => {
    hetzner.inject({ route: 'DELETE /servers/:id', status: 503, times: 1 });
    const created = await createServer(hetzner, 'agent-flaky', { job_id: 'flaky' });
    const serverUrl = `${hetzner.url}/servers/${created.body?.server.id}`;
    expect((await call(serverUrl, hetzner.token, 'DELETE')).status).toBe(503);
    expect((await call(serverUrl, hetzner.token, 'DELETE')).status).toBe(200);
  });
});

describe('fake Tailscale', () => {
  let tailscale: tailscaleFake.TailscaleFake;
  beforeAll(async () => {
    tailscale = await tailscaleFake.start();
  });
  afterAll(() => tailscale.stop());

  it('lists joined devices with hostname, tags and a tailnet address, behind the bearer token', async () => {
    const device = tailscale.join({ hostname: 'agent-job-7', tags: ['tag:agent'] });
    expect((await call(`${tailscale.url}/tailnet/-/devices`, undefined)).status).toBe(401);

    const listed = await call(`${tailscale.url}/tailnet/-/devices`, tailscale.token);
    expect(listed.body?.devices).toEqual([
      expect.objectContaining({ nodeId: device.nodeId, hostname: 'agent-job-7', tags: ['tag:agent'] }),
    ]);
    expect(device.addresses[0]).toMatch(/^100\.\d+\.\d+\.\d+$/);
    expect((await call(`${tailscale.url}/tailnet/other.net/devices`, tailscale.token)).status).toBe(404);
  });

  it('gets and deletes a device by id or node id; a second delete is 404', async () => {
    const device = tailscale.join({ hostname: 'agent-job-8' });
    expect((await call(`${tailscale.url}/device/${device.id}`, tailscale.token)).body).toMatchObject({
      hostname: 'agent-job-8',
    });
    expect((await call(`${tailscale.url}/device/${device.nodeId}`, tailscale.token, 'DELETE')).status).toBe(200);
    expect((await call(`${tailscale.url}/device/${device.id}`, tailscale.token, 'DELETE')).status).toBe(404);
    expect((await call(`${tailscale.url}/device/${device.id}`, tailscale.token)).body).toEqual({
      message: 'device not found',
    });
  });
});
