/** What every view needs, created once at start-up and handed down through context. */
import { createContext } from 'preact';
import { useContext, useEffect, useState } from 'preact/hooks';
import { roleOf, type Caller } from '../../lambdas/domain/access.ts';
import type { ApiClient } from './api.ts';
import type { SessionStore } from './auth/session.ts';
import type { DashboardConfig } from './config.ts';
import type { LiveConnection, LiveState } from './live/connection.ts';

export interface Services {
  readonly config: DashboardConfig;
  readonly session: SessionStore;
  readonly api: ApiClient;
  readonly live: LiveConnection;
}

export const ServicesContext = createContext<Services | undefined>(undefined);

export function useServices(): Services {
  const services = useContext(ServicesContext);
  if (services === undefined) throw new Error('useServices outside ServicesContext');
  return services;
}

/** The live state, re-rendering on every change. */
export function useLiveState(): LiveState {
  const { live } = useServices();
  const [state, setState] = useState(live.snapshot);
  useEffect(() => {
    setState(live.snapshot);
    return live.subscribe(() => setState(live.snapshot));
  }, [live]);
  return state;
}

/** The current time, ticking every `intervalMs` while `ticking` (so idle pages do not re-render). */
export function useNow(ticking: boolean, intervalMs = 1000): Date {
  const [now, setNow] = useState(() => new Date());
  useEffect(() => {
    if (!ticking) return;
    setNow(new Date());
    const timer = setInterval(() => setNow(new Date()), intervalMs);
    return () => clearInterval(timer);
  }, [ticking, intervalMs]);
  return now;
}

/** Who is signed in, as the API's access rule sees them (the API decides from the verified token's groups). */
export function useCaller(): Caller {
  const { session } = useServices();
  const current = session.current;
  return { userId: current?.userId ?? '', role: roleOf(current?.groups) };
}
