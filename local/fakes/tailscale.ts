import { nowIso, startFakeServer, type FakeReply, type Fault } from './http.ts';

/** A device in the shape of the Tailscale API v2 (`GET /device/{id}`). */
export interface TailscaleDevice {
  /** Legacy numeric id; the API accepts it or `nodeId` wherever a device id is expected. */
  id: string;
  nodeId: string;
  name: string;
  hostname: string;
  addresses: string[];
  tags: string[];
  os: string;
  clientVersion: string;
  authorized: boolean;
  created: string;
  lastSeen: string;
}

export type TailscaleRoute = 'GET /tailnet/:tailnet/devices' | 'GET /device/:deviceId' | 'DELETE /device/:deviceId';

export interface TailscaleFakeOptions {
  /** @default 'fake-tailscale-token' */
  token?: string;
  /** Tailnet name accepted besides `-` (the token's default tailnet). @default 'example.com' */
  tailnet?: string;
}

/** The in-memory Tailscale API; `url` ends with `/api/v2` like the real base URL. */
export interface TailscaleFake {
  url: string;
  token: string;
  state: { readonly devices: ReadonlyMap<string, TailscaleDevice> };
  stop(): Promise<void>;
  inject(fault: Fault<TailscaleRoute>): void;
  /** What `tailscale up --hostname <hostname>` does on a machine: registers a device and gives it an address. */
  join(device: { hostname: string; tags?: string[] }): TailscaleDevice;
}

/** Starts the fake Tailscale API (devices) on a random local port. */
export async function start(options: TailscaleFakeOptions = {}): Promise<TailscaleFake> {
  const token = options.token ?? 'fake-tailscale-token';
  const tailnet = options.tailnet ?? 'example.com';
  const devices = new Map<string, TailscaleDevice>();
  let joined = 0;

  const tailscaleError = (status: number, message: string): FakeReply => ({ status, body: { message } });
  const findDevice = (deviceId = '') =>
    devices.get(deviceId) ?? [...devices.values()].find((device) => device.nodeId === deviceId);

  const server = await startFakeServer<TailscaleRoute>({
    token,
    basePath: '/api/v2',
    errorBody: (status, message) => tailscaleError(status, message).body,
    routes: {
      'GET /tailnet/:tailnet/devices': ({ params }) =>
        params.tailnet === '-' || params.tailnet === tailnet
          ? { status: 200, body: { devices: [...devices.values()] } }
          : tailscaleError(404, 'tailnet not found'),
      'GET /device/:deviceId': ({ params }) => {
        const device = findDevice(params.deviceId);
        return device ? { status: 200, body: device } : tailscaleError(404, 'device not found');
      },
      'DELETE /device/:deviceId': ({ params }) => {
        const device = findDevice(params.deviceId);
        if (!device) return tailscaleError(404, 'device not found');
        devices.delete(device.id);
        return { status: 200 };
      },
    },
  });

  return {
    url: server.url,
    token,
    state: { devices },
    stop: server.stop,
    inject: server.inject,
    join: ({ hostname, tags = [] }) => {
      joined += 1;
      const now = nowIso();
      const device: TailscaleDevice = {
        id: String(7_000_000_000_000_000 + joined),
        nodeId: `n${joined.toString(36).padStart(6, '0')}CNTRL`,
        name: `${hostname}.tailnet.ts.net`,
        hostname,
        // Tailscale hands out addresses from 100.64.0.0/10 and fd7a:115c:a1e0::/48.
        addresses: [
          `100.64.${Math.floor(joined / 250)}.${(joined % 250) + 1}`,
          `fd7a:115c:a1e0::${joined.toString(16)}`,
        ],
        tags: [...tags],
        os: 'linux',
        clientVersion: '1.80.0',
        authorized: true,
        created: now,
        lastSeen: now,
      };
      devices.set(device.id, device);
      return device;
    },
  };
}
