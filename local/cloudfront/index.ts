/**
 * The local stand-in for the dashboard's CloudFront distribution, built from the synthesized template
 * (`./distribution.ts`): each request takes the first cache behaviour whose path pattern matches (the default last),
 * is refused if the behaviour does not allow its method, runs the behaviour's viewer-request function
 * (`./functions.ts`), then goes to the behaviour's origin with what the behaviour forwards: the bucket the template's
 * deployment fills (`./s3-origin.ts`) or the local gateway's HTTP API. A path no behaviour forwards to the API is
 * answered by the bucket, as in AWS. What it does not model (caching, TLS, edge locations...) is listed in
 * docs/ARCHITECTURE.md, "CloudFront".
 */
import { randomBytes } from 'node:crypto';
import { Agent, createServer, request as httpRequest, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { CloudFormationTemplate } from '../template.ts';
import { matchesPathPattern } from './path-pattern.ts';
import {
  deployedBucketsOf,
  distributionFromTemplate,
  type CacheBehaviour,
  type DistributionDefinition,
  type Origin,
} from './distribution.ts';
import {
  headerLinesOf,
  headersAndCookiesOf,
  querystringOf,
  rawQueryOf,
  viewerRequestFunction,
  type FunctionRequest,
  type FunctionResponse,
  type ViewerRequestEvent,
  type ViewerRequestOutcome,
} from './functions.ts';
import { s3Origin, type BucketContents, type OriginResponse, type S3Origin } from './s3-origin.ts';

export type { BucketContents } from './s3-origin.ts';

export interface DistributionOptions {
  readonly template: CloudFormationTemplate;
  /** 0 picks a free one. */
  readonly port: number;
  /** @default '127.0.0.1' */
  readonly host?: string;
  /** Where the template's HTTP API is served locally: the gateway's base URL (its `$default` stage). */
  readonly httpApiUrl: string;
  /**
   * What the template's bucket deployment writes into its bucket (the dashboard build and `config.json`), given the
   * distribution's own URL, which `config.json` names.
   */
  readonly deployment: (distributionUrl: string) => BucketContents;
  /** Where a function's `console.log` and failures are reported. @default stderr for failures only */
  readonly log?: (line: string) => void;
}

export interface LocalDistribution {
  /** The distribution's URL (`http://127.0.0.1:<port>`), standing in for `https://<id>.cloudfront.net`. */
  readonly url: string;
  readonly port: number;
  readonly definition: DistributionDefinition;
  stop(): Promise<void>;
}

/** Headers of one hop, never forwarded (RFC 9110, 7.6.1). */
const HOP_BY_HOP = new Set([
  'connection',
  'keep-alive',
  'proxy-connection',
  'transfer-encoding',
  'te',
  'trailer',
  'upgrade',
  'proxy-authorization',
  'proxy-authenticate',
]);

/** CloudFront's default origin response timeout (`OriginReadTimeout`, 30 s). */
const ORIGIN_READ_TIMEOUT_MS = 30_000;

/** Reads the distribution from the template and serves it; rejects naming what the template has that it cannot serve. */
export async function startDistribution(options: DistributionOptions): Promise<LocalDistribution> {
  const definition = distributionFromTemplate(options.template);
  const log = options.log ?? (() => {});
  const host = options.host ?? '127.0.0.1';
  const distributionId = `E${randomBytes(7).toString('hex').toUpperCase()}`.slice(0, 14);
  const functions = new Map(
    definition.behaviours.flatMap((behaviour) =>
      behaviour.viewerRequestFunction === undefined
        ? []
        : [[behaviour, viewerRequestFunction(behaviour.viewerRequestFunction, log)] as const],
    ),
  );
  const deployed = new Set(deployedBucketsOf(options.template));
  const agent = new Agent({ keepAlive: true });

  let buckets: ReadonlyMap<string, S3Origin> = new Map();
  let domainName = '';

  const server = createServer((request, response) => {
    const requestId = randomBytes(42).toString('base64url').slice(0, 56);
    handle(request, requestId)
      .catch((error: unknown) => {
        log(`[cloudfront] ${request.method} ${request.url} failed: ${error instanceof Error ? error.message : error}`);
        return cloudFrontError(502, 'CloudFront wasn\u2019t able to connect to the origin.');
      })
      .then((answer) => writeAnswer(response, requestId, answer));
  });

  async function handle(request: IncomingMessage, requestId: string): Promise<Answer> {
    const method = request.method ?? 'GET';
    const rawUrl = request.url ?? '/';
    const queryAt = rawUrl.indexOf('?');
    const path = queryAt === -1 ? rawUrl : rawUrl.slice(0, queryAt);
    const rawQuery = queryAt === -1 ? '' : rawUrl.slice(queryAt + 1);
    const body = await readAll(request);
    // The default behaviour is last and its pattern, `*`, matches every path.
    const behaviour = definition.behaviours.find((candidate) => matchesPathPattern(candidate.pathPattern, path))!;
    if (!behaviour.allowedMethods.includes(method)) {
      return cloudFrontError(
        403,
        'This distribution is not configured to allow the HTTP request method that was used for this request. The distribution supports only cachable requests.',
      );
    }

    const { headers, cookies } = headersAndCookiesOf(request.rawHeaders);
    let viewerRequest: FunctionRequest = { method, uri: path, querystring: querystringOf(rawQuery), headers, cookies };
    let forwardRaw = true;
    const fn = functions.get(behaviour);
    if (fn !== undefined) {
      const event: ViewerRequestEvent = {
        version: '1.0',
        context: { distributionDomainName: domainName, distributionId, eventType: 'viewer-request', requestId },
        viewer: { ip: (request.socket.remoteAddress ?? '').replace(/^::ffff:/, '') },
        request: viewerRequest,
      };
      let outcome: ViewerRequestOutcome;
      try {
        outcome = await fn(event);
      } catch (error) {
        // As CloudWatch would keep the function's error: always reported, whatever the stack's verbosity.
        console.error(`[cloudfront] function failed on ${path}: ${error instanceof Error ? error.message : error}`);
        return cloudFrontError(503, 'The CloudFront function associated with the request failed.');
      }
      if (outcome.kind === 'response') return functionResponse(outcome.response);
      viewerRequest = outcome.request;
      forwardRaw = false;
    }
    if (viewerRequest.uri === '/' && definition.defaultRootObject !== undefined) {
      viewerRequest = { ...viewerRequest, uri: `/${definition.defaultRootObject}` };
    }

    const origin = definition.origins[behaviour.originId]!;
    const answered =
      origin.kind === 's3'
        ? await fromBucket(origin, method, viewerRequest)
        : await fromHttpApi(origin, behaviour, {
            method,
            uri: viewerRequest.uri,
            query: forwardRaw ? rawQuery : rawQueryOf(viewerRequest.querystring),
            headers: forwardRaw ? viewerHeaders(request) : headerLinesOf(viewerRequest.headers, viewerRequest.cookies),
            body,
            viewerIp: (request.socket.remoteAddress ?? '').replace(/^::ffff:/, ''),
            requestId,
          });
    return { ...answered, cache: answered.statusCode >= 400 ? 'Error' : 'Miss' };
  }

  async function fromBucket(origin: Extract<Origin, { kind: 's3' }>, method: string, request: FunctionRequest) {
    const bucket = buckets.get(origin.bucketLogicalId);
    if (bucket === undefined) throw new Error(`No contents for bucket ${origin.bucketLogicalId}`);
    const headers = headerLinesOf(request.headers);
    return bucket.get(method === 'HEAD' ? 'HEAD' : 'GET', request.uri, headers);
  }

  function fromHttpApi(
    origin: Extract<Origin, { kind: 'http-api' }>,
    behaviour: CacheBehaviour,
    forwarded: {
      method: string;
      uri: string;
      query: string;
      headers: Record<string, string | string[]>;
      body: Buffer;
      viewerIp: string;
      requestId: string;
    },
  ): Promise<OriginResponse> {
    const target = new URL(options.httpApiUrl);
    const { forwarding } = behaviour;
    const headers: Record<string, string | string[]> = {};
    if (forwarding.headers !== 'none') {
      for (const [name, value] of Object.entries(forwarded.headers)) {
        if (HOP_BY_HOP.has(name) || name === 'content-length') continue;
        if (name === 'host' && forwarding.headers === 'all-except-host') continue;
        headers[name] = value;
      }
    }
    if (forwarding.cookies && forwarded.headers.cookie !== undefined) headers.cookie = forwarded.headers.cookie;
    else delete headers.cookie;
    headers.host ??= target.host;
    const viewerForwardedFor = forwarded.headers['x-forwarded-for'];
    headers['x-forwarded-for'] =
      viewerForwardedFor === undefined
        ? forwarded.viewerIp
        : `${[viewerForwardedFor].flat().join(', ')}, ${forwarded.viewerIp}`;
    headers.via = `2.0 ${forwarded.requestId.slice(0, 32)}.cloudfront.net (CloudFront)`;
    headers['x-amz-cf-id'] = forwarded.requestId;
    if (forwarded.body.length > 0 || !['GET', 'HEAD'].includes(forwarded.method)) {
      headers['content-length'] = String(forwarded.body.length);
    }
    const query = forwarding.queryStrings && forwarded.query !== '' ? `?${forwarded.query}` : '';
    return new Promise((resolveAnswer, reject) => {
      const outgoing = httpRequest(
        {
          agent,
          host: target.hostname,
          port: target.port,
          method: forwarded.method,
          path: `${origin.originPath}${forwarded.uri}${query}`,
          headers,
          timeout: ORIGIN_READ_TIMEOUT_MS,
        },
        (incoming) => {
          readAll(incoming).then((responseBody) => {
            const responseHeaders: Record<string, string | string[]> = {};
            for (const [name, value] of Object.entries(incoming.headers)) {
              if (value !== undefined && !HOP_BY_HOP.has(name)) responseHeaders[name] = value;
            }
            resolveAnswer({ statusCode: incoming.statusCode ?? 502, headers: responseHeaders, body: responseBody });
          }, reject);
        },
      );
      outgoing.on('timeout', () => {
        outgoing.destroy();
        resolveAnswer(cloudFrontError(504, 'The origin did not answer in time.'));
      });
      outgoing.on('error', reject);
      outgoing.end(forwarded.body);
    });
  }

  await new Promise<void>((resolveListen, reject) => {
    server.once('error', (error: NodeJS.ErrnoException) =>
      reject(
        error.code === 'EADDRINUSE'
          ? new Error(`Local CloudFront cannot listen on ${host}:${options.port}: the port is already in use`, {
              cause: error,
            })
          : error,
      ),
    );
    server.listen(options.port, host, () => resolveListen());
  });
  const { port } = server.address() as AddressInfo;
  const url = `http://${host}:${port}`;
  domainName = `${host}:${port}`;
  const contents = options.deployment(url);
  buckets = new Map(
    Object.values(definition.origins).flatMap((origin) =>
      origin.kind === 's3'
        ? [[origin.bucketLogicalId, s3Origin(deployed.has(origin.bucketLogicalId) ? contents : {}, origin)] as const]
        : [],
    ),
  );

  return {
    url,
    port,
    definition,
    async stop() {
      server.closeAllConnections();
      agent.destroy();
      await new Promise<void>((resolveClose, reject) =>
        server.close((error) => (error ? reject(error) : resolveClose())),
      );
    },
  };
}

/** What the distribution answers the viewer, and how its `x-cache` header reads. */
interface Answer extends OriginResponse {
  readonly cache: 'Miss' | 'Error' | 'FunctionGeneratedResponse' | 'LambdaGeneratedResponse';
}

function viewerHeaders(request: IncomingMessage): Record<string, string | string[]> {
  const headers: Record<string, string | string[]> = {};
  for (const [name, value] of Object.entries(request.headers)) if (value !== undefined) headers[name] = value;
  return headers;
}

function functionResponse(response: FunctionResponse): Answer {
  const headers = headerLinesOf(response.headers ?? {});
  const cookies = Object.entries(response.cookies ?? {}).map(
    ([name, { value, attributes }]) => `${name}=${value}${attributes === undefined ? '' : `; ${attributes}`}`,
  );
  if (cookies.length > 0) headers['set-cookie'] = cookies;
  const body =
    response.body === undefined
      ? Buffer.alloc(0)
      : typeof response.body === 'string'
        ? Buffer.from(response.body)
        : Buffer.from(response.body.data, response.body.encoding === 'base64' ? 'base64' : 'utf8');
  return { statusCode: response.statusCode, headers, body, cache: 'FunctionGeneratedResponse' };
}

/** CloudFront's own error page, as it answers when it refuses a request or cannot reach the origin. */
function cloudFrontError(statusCode: number, reason: string): Answer {
  const body =
    '<!DOCTYPE HTML PUBLIC "-//W3C//DTD HTML 4.01 Transitional//EN" "http://www.w3.org/TR/html4/loose.dtd">\n' +
    `<HTML><HEAD><META HTTP-EQUIV="Content-Type" CONTENT="text/html; charset=iso-8859-1">\n<TITLE>ERROR: The request could not be satisfied</TITLE>\n</HEAD><BODY>\n` +
    `<H1>${statusCode} ERROR</H1>\n<H2>The request could not be satisfied.</H2>\n<HR noshade size="1px">\n${reason}\n</BODY></HTML>`;
  return {
    statusCode,
    headers: { 'content-type': 'text/html', server: 'CloudFront' },
    body: Buffer.from(body),
    cache: 'Error',
  };
}

function writeAnswer(response: ServerResponse, requestId: string, answer: Answer): void {
  response.writeHead(answer.statusCode, {
    ...answer.headers,
    'content-length': String(answer.body.length),
    'x-cache': `${answer.cache} from cloudfront`,
    via: `1.1 ${requestId.slice(0, 32)}.cloudfront.net (CloudFront)`,
    'x-amz-cf-pop': 'LOCAL1-P1',
    'x-amz-cf-id': requestId,
  });
  response.end(answer.body);
}

function readAll(stream: NodeJS.ReadableStream): Promise<Buffer> {
  return new Promise((resolveBody, reject) => {
    const chunks: Buffer[] = [];
    stream.on('data', (chunk: Buffer) => chunks.push(chunk));
    stream.on('end', () => resolveBody(Buffer.concat(chunks)));
    stream.on('error', reject);
  });
}
