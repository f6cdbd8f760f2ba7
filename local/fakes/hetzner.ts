import {
  HETZNER_LOCATIONS,
  HETZNER_SERVER_TYPES,
  type HetznerLocation,
  type HetznerServerTypeSpec,
} from './hetzner-catalogue.ts';
import { isRecord, nowIso, startFakeServer, type FakeReply, type Fault } from './http.ts';

export type HetznerServerStatus = 'initializing' | 'starting' | 'running' | 'stopping' | 'off' | 'deleting';

/** A server in the shape of the Hetzner Cloud API (the fields this project reads, plus the usual neighbours). */
export interface HetznerServer {
  id: number;
  name: string;
  status: HetznerServerStatus;
  created: string;
  labels: Record<string, string>;
  public_net: { ipv4: { ip: string; blocked: boolean }; ipv6: { ip: string; blocked: boolean } };
  server_type: HetznerServerType;
  image: { name: string } | null;
  /** Since 2026-07-01 a server names its location; the `datacenter` field is gone. */
  location: HetznerLocation;
}

/** A server type as `GET /v1/server_types` lists it: where it is sold, and whether it can be ordered there now. */
export type HetznerServerType = Omit<HetznerServerTypeSpec, 'sold_in'> & {
  locations: { id: number; name: string; deprecation: null; available: boolean; recommended: boolean }[];
};

/** An asynchronous action (`running` until `actionDelayMs` has passed, then `success`). */
export interface HetznerAction {
  id: number;
  command: string;
  status: 'running' | 'success' | 'error';
  progress: number;
  started: string;
  finished: string | null;
  resources: { id: number; type: 'server' }[];
  error: { code: string; message: string } | null;
}

export type HetznerRoute =
  | 'POST /servers'
  | 'GET /servers'
  | 'GET /servers/:id'
  | 'DELETE /servers/:id'
  | 'POST /servers/:id/actions/:command'
  | 'GET /actions/:id'
  | 'GET /server_types'
  | 'GET /locations'
  | 'GET /datacenters'
  | 'GET /datacenters/:id';

export interface HetznerFakeOptions {
  /** @default 'fake-hetzner-token' */
  token?: string;
  /** How long every action stays `running`. @default 250 */
  actionDelayMs?: number;
}

/** The in-memory Hetzner Cloud API; `url` ends with `/v1` like the real base URL. */
export interface HetznerFake {
  url: string;
  token: string;
  state: { readonly servers: ReadonlyMap<number, HetznerServer>; readonly actions: ReadonlyMap<number, HetznerAction> };
  stop(): Promise<void>;
  inject(fault: Fault<HetznerRoute>): void;
  /** Sells out (false) or restocks (true) a server type in a location it is sold in, as Hetzner's stock varies. */
  setAvailable(serverType: string, location: string, available: boolean): void;
}

/** Server status an action leaves behind when it succeeds. */
const POWER_COMMANDS: Record<string, HetznerServerStatus> = { poweron: 'running', poweroff: 'off', shutdown: 'off' };
/** Hetzner's rule for label keys (without prefix) and values. */
const LABEL_PATTERN = /^([a-z0-9A-Z]([-a-z0-9A-Z_.]{0,61}[a-z0-9A-Z])?)?$/;
const SERVER_NAME_PATTERN = /^[a-zA-Z0-9]([a-zA-Z0-9.-]{0,61}[a-zA-Z0-9])?$/;

/** Starts the fake Hetzner Cloud API (servers, power actions, actions) on a random local port. */
export async function start(options: HetznerFakeOptions = {}): Promise<HetznerFake> {
  const token = options.token ?? 'fake-hetzner-token';
  const actionDelayMs = options.actionDelayMs ?? 250;
  const servers = new Map<number, HetznerServer>();
  const actions = new Map<number, HetznerAction>();
  const timers = new Set<NodeJS.Timeout>();
  let nextServerId = 40_000_001;
  let nextActionId = 90_000_001;

  const hetznerError = (
    status: number,
    message: string,
    code = errorCode(status),
    details: Record<string, unknown> | null = {},
  ): FakeReply => ({ status, body: { error: { code, message, details } } });
  /** `<type>@<location>` pairs sold out right now (setAvailable). */
  const soldOut = new Set<string>();
  const isAvailable = (serverType: string, location: string) => !soldOut.has(`${serverType}@${location}`);
  const serverTypeView = (spec: HetznerServerTypeSpec): HetznerServerType => {
    const { sold_in: soldIn, ...fields } = spec;
    return {
      ...fields,
      locations: HETZNER_LOCATIONS.filter((candidate) => soldIn.includes(candidate.name)).map((candidate) => ({
        id: candidate.id,
        name: candidate.name,
        deprecation: null,
        available: isAvailable(spec.name, candidate.name),
        recommended: false,
      })),
    };
  };
  // GET /v1/datacenters was removed after 2026-10-01 (hcloud-go v2.44.0 changelog): every call answers 410.
  const datacentersGone = () =>
    hetznerError(410, 'API functionality was removed', 'deprecated_api_endpoint', {
      announcement: 'https://docs.hetzner.cloud/changelog#2026-06-02-datacenters-deprecated',
    });
  const findServer = (id: string | undefined) => servers.get(Number(id));
  const notFound = (id: string | undefined) => hetznerError(404, `server with ID '${id}' not found`);

  /** Records an action that succeeds after `actionDelayMs` and then applies `onSuccess`. */
  const startAction = (command: string, serverId: number, onSuccess: () => void): HetznerAction => {
    const action: HetznerAction = {
      id: nextActionId++,
      command,
      status: 'running',
      progress: 0,
      started: nowIso(),
      finished: null,
      resources: [{ id: serverId, type: 'server' }],
      error: null,
    };
    actions.set(action.id, action);
    const timer = setTimeout(() => {
      timers.delete(timer);
      Object.assign(action, { status: 'success', progress: 100, finished: nowIso() });
      onSuccess();
    }, actionDelayMs);
    timers.add(timer);
    return { ...action };
  };

  const server = await startFakeServer<HetznerRoute>({
    token,
    basePath: '/v1',
    errorBody: (status, message) => hetznerError(status, message).body,
    routes: {
      'POST /servers': ({ body }) => {
        const invalid = validateCreateServer(body);
        if (invalid) return hetznerError(422, invalid, 'invalid_input');
        const request = body as CreateServerRequest;
        const spec = HETZNER_SERVER_TYPES.find((candidate) => candidate.name === request.server_type);
        if (!spec) return hetznerError(422, `server type '${request.server_type}' not found`, 'invalid_input');
        // Without a location Hetzner picks one that sells the type.
        const locationName = request.location ?? spec.sold_in.find((name) => isAvailable(spec.name, name));
        const location = HETZNER_LOCATIONS.find((candidate) => candidate.name === locationName);
        if (!location) return hetznerError(422, `location '${request.location}' not found`, 'invalid_input');
        if (!spec.sold_in.includes(location.name)) {
          return hetznerError(422, 'unsupported location for server type', 'invalid_input');
        }
        if (!isAvailable(spec.name, location.name)) {
          return hetznerError(412, 'error during placement', 'resource_unavailable', null);
        }
        if ([...servers.values()].some((existing) => existing.name === request.name)) {
          return hetznerError(409, 'server name is already used', 'uniqueness_error');
        }
        const id = nextServerId++;
        const created: HetznerServer = {
          id,
          name: request.name,
          status: 'initializing',
          created: nowIso(),
          labels: { ...request.labels },
          // Documentation ranges (RFC 5737 / RFC 3849): never routable.
          public_net: {
            ipv4: { ip: `203.0.113.${(id % 250) + 1}`, blocked: false },
            ipv6: { ip: `2001:db8:${(id % 0xffff).toString(16)}::/64`, blocked: false },
          },
          server_type: serverTypeView(spec),
          image: { name: request.image },
          location: { ...location },
        };
        servers.set(id, created);
        const action = startAction('create_server', id, () => {
          if (created.status === 'initializing') created.status = 'running';
        });
        return { status: 201, body: { server: { ...created }, action, next_actions: [], root_password: null } };
      },
      'GET /servers': ({ query }) => {
        const selector = parseLabelSelector(query.get('label_selector') ?? '');
        if (!selector) return hetznerError(400, 'invalid label_selector', 'invalid_input');
        const name = query.get('name');
        const matching = [...servers.values()].filter(
          (candidate) => (name === null || candidate.name === name) && selector(candidate.labels),
        );
        return {
          status: 200,
          body: { servers: matching, meta: { pagination: onePage(matching.length) } },
        };
      },
      'GET /servers/:id': ({ params }) => {
        const found = findServer(params.id);
        return found ? { status: 200, body: { server: found } } : notFound(params.id);
      },
      'DELETE /servers/:id': ({ params }) => {
        const found = findServer(params.id);
        if (!found) return notFound(params.id);
        // Gone at once for readers (a second DELETE is a 404); the action still reports progress like the real API.
        servers.delete(found.id);
        return { status: 200, body: { action: startAction('delete_server', found.id, () => undefined) } };
      },
      'POST /servers/:id/actions/:command': ({ params }) => {
        const found = findServer(params.id);
        if (!found) return notFound(params.id);
        const command = params.command ?? '';
        const target = POWER_COMMANDS[command];
        if (!target) return hetznerError(404, `action '${command}' not found`);
        found.status = target === 'running' ? 'starting' : 'stopping';
        const action = startAction(command, found.id, () => {
          found.status = target;
        });
        return { status: 201, body: { action } };
      },
      'GET /actions/:id': ({ params }) => {
        const action = actions.get(Number(params.id));
        return action
          ? { status: 200, body: { action } }
          : hetznerError(404, `action with ID '${params.id}' not found`);
      },
      'GET /server_types': ({ query }) => {
        const name = query.get('name');
        const listed = HETZNER_SERVER_TYPES.filter((spec) => name === null || spec.name === name).map(serverTypeView);
        return { status: 200, body: { server_types: listed, meta: { pagination: onePage(listed.length) } } };
      },
      'GET /locations': ({ query }) => {
        const name = query.get('name');
        const listed = HETZNER_LOCATIONS.filter((candidate) => name === null || candidate.name === name);
        return { status: 200, body: { locations: listed, meta: { pagination: onePage(listed.length) } } };
      },
      'GET /datacenters': datacentersGone,
      'GET /datacenters/:id': datacentersGone,
    },
  });

  return {
    url: server.url,
    token,
    state: { servers, actions },
    stop: async () => {
      for (const timer of timers) clearTimeout(timer);
      timers.clear();
      await server.stop();
    },
    inject: server.inject,
    setAvailable: (serverType, location, available) => {
      const spec = HETZNER_SERVER_TYPES.find((candidate) => candidate.name === serverType);
      if (!spec?.sold_in.includes(location)) throw new Error(`${serverType} is not sold in ${location}`);
      if (available) soldOut.delete(`${serverType}@${location}`);
      else soldOut.add(`${serverType}@${location}`);
    },
  };
}

/** The pagination block of a list that fits in one page. */
function onePage(totalEntries: number) {
  return { page: 1, per_page: 25, previous_page: null, next_page: null, last_page: 1, total_entries: totalEntries };
}

interface CreateServerRequest {
  name: string;
  server_type: string;
  image: string;
  location?: string;
  labels?: Record<string, string>;
}

function validateCreateServer(body: unknown): string | undefined {
  if (!isRecord(body)) return 'request body must be a JSON object';
  if (typeof body.name !== 'string' || !SERVER_NAME_PATTERN.test(body.name)) return 'invalid name';
  if (typeof body.server_type !== 'string' || body.server_type === '') return 'server_type is required';
  if (typeof body.image !== 'string' || body.image === '') return 'image is required';
  if (body.location !== undefined && typeof body.location !== 'string') return 'location must be a string';
  if (body.labels === undefined) return undefined;
  if (!isRecord(body.labels)) return 'labels must be an object';
  const badLabel = Object.entries(body.labels).find(
    ([key, value]) => key === '' || !LABEL_PATTERN.test(key) || typeof value !== 'string' || !LABEL_PATTERN.test(value),
  );
  return badLabel ? `invalid label '${badLabel[0]}'` : undefined;
}

/**
 * Compiles a Hetzner label selector (comma-separated `k=v`, `k==v`, `k!=v`, `k`, `!k`; all must hold).
 * Returns undefined for a selector it cannot read.
 */
function parseLabelSelector(selector: string): ((labels: Record<string, string>) => boolean) | undefined {
  const terms = selector === '' ? [] : selector.split(',').map((term) => term.trim());
  const predicates: ((labels: Record<string, string>) => boolean)[] = [];
  for (const term of terms) {
    const match = /^(!?)([^=!]+)(?:(==|=|!=)(.*))?$/.exec(term);
    if (!match) return undefined;
    const [, negation, key = '', operator, value] = match;
    if (operator === undefined) {
      predicates.push((labels) => key in labels !== (negation === '!'));
    } else if (negation === '!') {
      return undefined;
    } else if (operator === '!=') {
      predicates.push((labels) => labels[key] !== value);
    } else {
      predicates.push((labels) => labels[key] === value);
    }
  }
  return (labels) => predicates.every((predicate) => predicate(labels));
}

function errorCode(status: number): string {
  switch (status) {
    case 401:
      return 'unauthorized';
    case 404:
      return 'not_found';
    case 409:
      return 'conflict';
    case 410:
      return 'deprecated_api_endpoint';
    case 412:
      return 'resource_unavailable';
    case 422:
      return 'invalid_input';
    case 429:
      return 'rate_limit_exceeded';
    case 503:
      return 'unavailable';
    default:
      return status >= 500 ? 'server_error' : 'invalid_input';
  }
}
