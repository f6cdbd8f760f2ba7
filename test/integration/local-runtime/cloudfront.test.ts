/**
 * The local CloudFront distribution over real HTTP, built from the synthesized template: behaviours in order with the
 * default last, the viewer-request function run as CloudFront Functions run it, the bucket origin answering as S3 with
 * origin access control does, and the HTTP API origin receiving what the behaviour forwards. The HTTP API here is an
 * echo server, so what reaches the origin is visible; the bucket holds a small build in a temporary directory.
 */
import { once } from 'node:events';
import { mkdtemp, mkdir, rm, writeFile } from 'node:fs/promises';
import { createServer, type IncomingHttpHeaders, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { startDistribution, type LocalDistribution } from '../../../local/cloudfront/index.ts';
import type { CloudFormationTemplate } from '../../../local/template.ts';

interface Echoed {
  readonly method: string;
  readonly url: string;
  readonly headers: IncomingHttpHeaders;
  readonly body: string;
}

const template = inject('template');
const received: Echoed[] = [];
let echo: Server;
let echoUrl: string;
let build: string;
let distribution: LocalDistribution;
const config = { apiUrl: 'set-later' };

/** The template with the distribution's properties changed by `change`. */
function withDistribution(change: (config: any, resources: CloudFormationTemplate['Resources']) => void) {
  const copy = structuredClone(template) as CloudFormationTemplate;
  const [, distributionResource] = Object.entries(copy.Resources).find(
    ([, resource]) => resource.Type === 'AWS::CloudFront::Distribution',
  )!;
  change((distributionResource.Properties as any).DistributionConfig, copy.Resources);
  return copy;
}

const start = (source: CloudFormationTemplate) =>
  startDistribution({
    template: source,
    port: 0,
    httpApiUrl: echoUrl,
    deployment: (url) => ({ directory: build, objects: { 'config.json': JSON.stringify({ ...config, apiUrl: url }) } }),
  });

beforeAll(async () => {
  echo = createServer((request, response) => {
    const chunks: Buffer[] = [];
    request.on('data', (chunk: Buffer) => chunks.push(chunk));
    request.on('end', () => {
      received.push({
        method: request.method!,
        url: request.url!,
        headers: request.headers,
        body: Buffer.concat(chunks).toString(),
      });
      response.writeHead(200, { 'content-type': 'application/json', 'x-origin': 'http-api' });
      response.end('{"from":"api"}');
    });
  });
  echo.listen(0, '127.0.0.1');
  await once(echo, 'listening');
  echoUrl = `http://127.0.0.1:${(echo.address() as AddressInfo).port}`;
  build = await mkdtemp(join(tmpdir(), 'cloudfront-bucket-'));
  await mkdir(join(build, 'assets'));
  await writeFile(join(build, 'index.html'), '<!doctype html><title>dashboard</title>');
  await writeFile(join(build, 'assets', 'app-1234.js'), 'console.log("app")');
  distribution = await start(template);
});

afterAll(async () => {
  await distribution?.stop();
  echo?.close();
  await rm(build, { recursive: true, force: true });
});

const lastReceived = () => received.at(-1);

describe('the bucket behind the default behaviour', () => {
  it("answers the app shell for '/' and client-side routes, through the SPA function", async () => {
    for (const path of ['/', '/agents-view/abc', '/operations-view', '/Agents', '/Operations/jobs']) {
      const response = await fetch(`${distribution.url}${path}`);
      expect(response.status, path).toBe(200);
      expect(response.headers.get('content-type')).toBe('text/html');
      expect(await response.text()).toContain('<title>dashboard</title>');
    }
  });

  it('serves files with the content type the deployment stored, an ETag and a revalidation', async () => {
    const script = await fetch(`${distribution.url}/assets/app-1234.js`);
    expect(script.status).toBe(200);
    expect(script.headers.get('content-type')).toBe('text/javascript');
    expect(script.headers.get('x-cache')).toBe('Miss from cloudfront');
    expect(await script.text()).toBe('console.log("app")');
    const etag = script.headers.get('etag')!;
    const again = await fetch(`${distribution.url}/assets/app-1234.js`, { headers: { 'if-none-match': etag } });
    expect(again.status).toBe(304);

    const configJson = await fetch(`${distribution.url}/config.json`);
    expect(configJson.headers.get('content-type')).toBe('application/json');
    expect(await configJson.json()).toEqual({ apiUrl: distribution.url });
  });

  it('answers a missing file 403 AccessDenied, as S3 does when CloudFront may not list the bucket', async () => {
    const response = await fetch(`${distribution.url}/assets/missing.js`);
    expect(response.status).toBe(403);
    expect(response.headers.get('content-type')).toBe('application/xml');
    expect(response.headers.get('x-cache')).toBe('Error from cloudfront');
    expect(await response.text()).toMatch(/<Error><Code>AccessDenied<\/Code><Message>Access Denied<\/Message>/);
  });

  it('answers 404 NoSuchKey instead once the bucket policy grants CloudFront s3:ListBucket', async () => {
    const listing = await start(
      withDistribution((_config, resources) => {
        const policy = Object.values(resources).find(
          (resource) =>
            resource.Type === 'AWS::S3::BucketPolicy' && JSON.stringify(resource.Properties).includes('cloudfront'),
        )!;
        (policy.Properties as any).PolicyDocument.Statement.push({
          Effect: 'Allow',
          Action: 's3:ListBucket',
          Principal: { Service: 'cloudfront.amazonaws.com' },
          Resource: 'bucket',
        });
      }),
    );
    try {
      const response = await fetch(`${listing.url}/assets/missing.js`);
      expect(response.status).toBe(404);
      expect(await response.text()).toContain('<Code>NoSuchKey</Code>');
    } finally {
      await listing.stop();
    }
  });

  it('never serves a file outside the deployed directory', async () => {
    for (const path of [
      '/..%2f..%2f..%2fetc%2fpasswd',
      '/%2e%2e/%2e%2e/etc/passwd',
      '/assets/..%2f..%2fpackage.json',
    ]) {
      const body = await (await fetch(`${distribution.url}${path}`)).text();
      expect(body).not.toMatch(/root:|"name"/);
    }
  });

  it('refuses methods the default behaviour does not allow (GET and HEAD only), before any origin', async () => {
    const before = received.length;
    const response = await fetch(`${distribution.url}/index.html`, { method: 'POST', body: '{}' });
    expect(response.status).toBe(403);
    expect(await response.text()).toContain('not configured to allow the HTTP request method');
    expect(received).toHaveLength(before);
  });
});

describe('the HTTP API behind its behaviours', () => {
  it('forwards each route path with its query string, every header but Host, and CloudFront headers', async () => {
    for (const path of ['/agents', '/agents/a1/actions', '/operations/jobs', '/operations/agents/a1/history']) {
      const response = await fetch(`${distribution.url}${path}?status=failed&a=1&a=2`, {
        headers: { authorization: 'Bearer token-1', 'x-custom': 'kept', cookie: 'session=s1' },
      });
      expect(response.status, path).toBe(200);
      expect(response.headers.get('x-origin')).toBe('http-api');
      expect(await response.json()).toEqual({ from: 'api' });
      expect(lastReceived()).toMatchObject({
        method: 'GET',
        url: `${path}?status=failed&a=1&a=2`,
        headers: {
          host: new URL(echoUrl).host,
          authorization: 'Bearer token-1',
          'x-custom': 'kept',
          cookie: 'session=s1',
          'x-forwarded-for': '127.0.0.1',
          via: expect.stringMatching(/^2\.0 \S+\.cloudfront\.net \(CloudFront\)$/),
          'x-amz-cf-id': expect.any(String),
        },
      });
    }
  });

  it('forwards a signed webhook body byte for byte', async () => {
    const body = '{"id":"evt_1","amount":1.10,"text":"caf\u00e9"}';
    await fetch(`${distribution.url}/webhooks/stripe`, {
      method: 'POST',
      headers: { 'stripe-signature': 't=1,v1=abc', 'content-type': 'application/json' },
      body,
    });
    expect(lastReceived()).toMatchObject({
      method: 'POST',
      url: '/webhooks/stripe',
      body,
      headers: { 'stripe-signature': 't=1,v1=abc' },
    });
  });

  it('forwards nothing for a path no behaviour matches, case-sensitively', async () => {
    const before = received.length;
    expect(await (await fetch(`${distribution.url}/Agents/a1`)).text()).toContain('<title>dashboard</title>');
    expect(await (await fetch(`${distribution.url}/agentsx`)).text()).toContain('<title>dashboard</title>');
    expect(received).toHaveLength(before);
  });
});

describe('the viewer-request function, run as CloudFront Functions run it', () => {
  const withFunctionCode = (code: string) =>
    withDistribution((_config, resources) => {
      const fn = Object.values(resources).find((resource) => resource.Type === 'AWS::CloudFront::Function')!;
      (fn.Properties as any).FunctionCode = code;
    });

  it('sees the documented event: lowercase headers, querystring and cookies of { value }', async () => {
    const seen = await start(
      withFunctionCode(`function handler(event) {
        return { statusCode: 200, statusDescription: 'OK', headers: { 'content-type': { value: 'application/json' } },
          body: JSON.stringify({ version: event.version, eventType: event.context.eventType, uri: event.request.uri,
            method: event.request.method, query: event.request.querystring, agent: event.request.headers['x-agent'],
            cookieHeader: event.request.headers.cookie, cookies: event.request.cookies, ip: event.viewer.ip }) };
      }`),
    );
    try {
      const response = await fetch(`${seen.url}/some/page?a=1&a=2&b=x%20y`, {
        headers: { 'X-Agent': 'test', cookie: 'one=1; two=2' },
      });
      expect(response.headers.get('x-cache')).toBe('FunctionGeneratedResponse from cloudfront');
      expect(await response.json()).toEqual({
        version: '1.0',
        eventType: 'viewer-request',
        uri: '/some/page',
        method: 'GET',
        query: { a: { value: '1', multiValue: [{ value: '1' }, { value: '2' }] }, b: { value: 'x%20y' } },
        agent: { value: 'test' },
        cookies: { one: { value: '1' }, two: { value: '2' } },
        ip: '127.0.0.1',
      });
    } finally {
      await seen.stop();
    }
  });

  it('leaves client-side routes to the bucket without the SPA rewrite; the default root object still answers /', async () => {
    const passThrough = await start(withFunctionCode('function handler(event) { return event.request; }'));
    try {
      expect(await (await fetch(`${passThrough.url}/`)).text()).toContain('<title>dashboard</title>');
      const clientRoute = await fetch(`${passThrough.url}/agents-view/abc`);
      expect(clientRoute.status).toBe(403);
      expect(await clientRoute.text()).toContain('<Code>AccessDenied</Code>');
    } finally {
      await passThrough.stop();
    }
  });

  it('offers no require, process, network or eval: a function that reaches for them fails the request (503)', async () => {
    for (const reach of ["require('fs')", 'process.env', "fetch('http://127.0.0.1')", "eval('1')"]) {
      const failing = await start(withFunctionCode(`function handler(event) { ${reach}; return event.request; }`));
      try {
        const response = await fetch(`${failing.url}/`);
        expect(response.status, reach).toBe(503);
      } finally {
        await failing.stop();
      }
    }
  });
});

describe('what the twin cannot stand in for', () => {
  it('refuses to start on an origin that is neither the bucket nor the HTTP API, naming it', async () => {
    const elsewhere = withDistribution((distributionConfig) => {
      distributionConfig.Origins.push({ Id: 'Elsewhere', DomainName: 'example.com', CustomOriginConfig: {} });
    });
    await expect(start(elsewhere)).rejects.toThrow(/Origin Elsewhere is neither a bucket nor the HTTP API/);
  });
});
