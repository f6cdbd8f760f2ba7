/**
 * The page's one WebSocket, shared by every view: it keeps the watched agents subscribed (a subscribe that was
 * throttled, failed or went unanswered is sent again), merges what arrives by `seq`, reconnects with jittered backoff
 * and resubscribes with `since`, keeps the connection alive (ping, rotation before API Gateway's 2 h cut-off) and,
 * while the socket cannot be held, polls the REST API instead. It says Live only while every watched agent is
 * subscribed on a socket known to work: every ping has a deadline for its answer, past which the socket is given up
 * as dropped, and while the browser says it is offline the page says Offline at once (and reconnects as soon as the
 * browser is back online).
 */
import { z } from 'zod';
import {
  serverMessage,
  type AgentView,
  type ClientMessage,
  type ServerMessage,
} from '../../../lambdas/domain/schemas.ts';
import { ApiError, type ApiClient } from '../api.ts';
import { applyHeartbeat, mergeAgentView, resubscribeMessages } from './agent-state.ts';
import { backoffDelayMs } from './backoff.ts';
import {
  connectionLost,
  connectionOpened,
  INITIAL_RECONNECT_STATE,
  PING_INTERVAL_MS,
  POLL_INTERVAL_MS,
  PONG_DEADLINE_MS,
  ROTATE_AFTER_MS,
  shouldPoll,
  type ConnectionStatus,
  type ReconnectState,
} from './reconnect.ts';
import { isGatewayError, shownStatus, SUBSCRIBE_CONFIRM_MS } from './subscriptions.ts';

/** Why an agent cannot be shown: the server's error code (`forbidden`, `not_found`, ...). */
export type AgentProblem = string;

/** A batch of an agent's log lines, as the WebSocket brings it. */
export type LogsEvent = Extract<ServerMessage, { type: 'logs' }>;

/** What the fleet channel brings: a change's summary, or the confirmation of a (re)subscription. */
export type FleetEvent = Extract<ServerMessage, { type: 'fleet' | 'fleet-subscribed' }>;

/** What views render: replaced as a whole on every change, so it can be compared by identity. */
export interface LiveState {
  readonly status: ConnectionStatus;
  readonly agents: ReadonlyMap<string, AgentView>;
  readonly problems: ReadonlyMap<string, AgentProblem>;
}

export interface LiveConnectionOptions {
  readonly wsUrl: string;
  readonly api: ApiClient;
  /** The current access token; read at every connection attempt. */
  readonly token: () => string | undefined;
}

export class LiveConnection {
  /** The open socket everything is sent on. */
  private current: WebSocket | undefined;
  /** A socket being opened: the first one, a reconnect, or a rotation that replaces `current` once open. */
  private pending: WebSocket | undefined;
  private reconnect: ReconnectState = INITIAL_RECONNECT_STATE;
  private readonly watchers = new Map<string, number>();
  private readonly views = new Map<string, AgentView>();
  private readonly problems = new Map<string, AgentProblem>();
  private readonly etags = new Map<string, string>();
  /** Agents whose subscribe the open socket has confirmed (a snapshot or update of theirs arrived on it). */
  private readonly subscribed = new Set<string>();
  /** Per agent not yet subscribed: attempts so far and the timer of the next one. */
  private readonly subscribing = new Map<string, { attempts: number; timer: ReturnType<typeof setTimeout> }>();
  private retryTimer: ReturnType<typeof setTimeout> | undefined;
  private rotateTimer: ReturnType<typeof setTimeout> | undefined;
  private pingTimer: ReturnType<typeof setInterval> | undefined;
  /** Set while a ping awaits its answer: when it fires, the socket is given up. */
  private pongTimer: ReturnType<typeof setTimeout> | undefined;
  /** When the open socket opened: how long it was held, should it be given up. */
  private currentOpenedAt: number | undefined;
  /** The browser said it is offline (and has not said it is back). */
  private browserOffline = false;
  private pollTimer: ReturnType<typeof setInterval> | undefined;
  private stopped = true;
  private state: LiveState = { status: 'connecting', agents: new Map(), problems: new Map() };
  private readonly listeners = new Set<() => void>();
  /** The operations console's listeners of the fleet channel (staff only; the server refuses anyone else). */
  private readonly fleetListeners = new Set<(message: FleetEvent) => void>();
  /** Listeners of each watched agent's log lines (the agent page's log view). */
  private readonly logListeners = new Map<string, Set<(message: LogsEvent) => void>>();

  constructor(private readonly options: LiveConnectionOptions) {}

  /** The state views render. */
  get snapshot(): LiveState {
    return this.state;
  }

  /** Calls `listener` after every change; returns the unsubscribe function. */
  subscribe(listener: () => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  /** Opens the connection (idempotent). */
  start(): void {
    if (!this.stopped) return;
    this.stopped = false;
    this.browserOffline = globalThis.navigator?.onLine === false;
    addEventListener('online', this.connectNow);
    addEventListener('offline', this.wentOffline);
    this.open();
  }

  /** Closes everything and forgets every agent (the next user of this tab must not see them); `start` opens again. */
  stop(): void {
    this.stopped = true;
    removeEventListener('online', this.connectNow);
    removeEventListener('offline', this.wentOffline);
    for (const socket of [this.current, this.pending]) socket?.close(1000);
    this.current = undefined;
    this.pending = undefined;
    clearTimeout(this.retryTimer);
    this.stopTimersOfOpenSocket();
    this.forgetSubscriptions();
    this.stopPolling();
    this.reconnect = INITIAL_RECONNECT_STATE;
    this.views.clear();
    this.problems.clear();
    this.etags.clear();
    this.emit();
  }

  /** The access token changed (signed in or refreshed): connects, or moves the open connection to the new token. */
  tokenChanged(): void {
    if (this.stopped) this.start();
    else this.rotate();
  }

  /**
   * Opens a new connection (with the current token) next to the open one and switches over once it is live:
   * used when the token was refreshed and before API Gateway's 2 h cut-off, so no update falls between sockets.
   */
  rotate(): void {
    if (this.stopped || this.pending !== undefined) return;
    this.open();
  }

  /** Closes the open socket as a network drop would (test hook and manual check of the reconnect path). */
  dropSocket(): void {
    this.current?.close(4000, 'dropped by the page');
  }

  /**
   * Keeps `agentId` subscribed until the returned function is called (reference-counted across views). The agent is
   * also read once over REST, so the page has it even before the socket is up.
   */
  watch(agentId: string): () => void {
    const count = this.watchers.get(agentId) ?? 0;
    this.watchers.set(agentId, count + 1);
    if (count === 0) {
      this.subscribeTo([agentId]);
      void this.poll(agentId);
      this.emit();
    }
    return () => {
      const remaining = (this.watchers.get(agentId) ?? 1) - 1;
      if (remaining > 0) {
        this.watchers.set(agentId, remaining);
        return;
      }
      this.watchers.delete(agentId);
      this.subscribed.delete(agentId);
      clearTimeout(this.subscribing.get(agentId)?.timer);
      this.subscribing.delete(agentId);
      this.sendAll([{ action: 'unsubscribe', agentId }]);
      this.emit();
    };
  }

  private open(): void {
    const token = this.options.token();
    // Nothing can be reached while the browser is offline: its `online` event opens the socket again.
    if (token === undefined || this.browserOffline) return;
    const url = new URL(this.options.wsUrl);
    url.searchParams.set('token', token);
    const socket = new WebSocket(url);
    let openedAt: number | undefined;
    this.pending = socket;
    socket.addEventListener('open', () => {
      openedAt = Date.now();
      this.adopt(socket);
    });
    socket.addEventListener('message', (event) => this.receive(event.data, socket));
    socket.addEventListener('close', () => this.closed(socket, openedAt));
  }

  /** Makes a freshly opened socket the one in use, retiring the previous one. */
  private adopt(socket: WebSocket): void {
    const previous = this.current;
    this.pending = undefined;
    this.current = socket;
    this.currentOpenedAt = Date.now();
    this.reconnect = connectionOpened(this.reconnect);
    this.stopPolling();
    // Subscriptions belong to a connection: every watched agent is subscribed again on this one.
    this.forgetSubscriptions();
    this.subscribeTo(this.watchers.keys());
    if (this.fleetListeners.size > 0) this.sendAll([{ action: 'subscribeFleet' }]);
    // The previous socket is closed only now, so updates keep flowing while its replacement subscribes.
    previous?.close(1000);

    this.stopTimersOfOpenSocket();
    this.pingTimer = setInterval(() => this.ping(), PING_INTERVAL_MS);
    this.rotateTimer = setTimeout(() => this.rotate(), ROTATE_AFTER_MS);
    this.emit();
  }

  private closed(socket: WebSocket, openedAt: number | undefined): void {
    if (socket === this.pending) this.pending = undefined;
    else if (socket !== this.current) return; // a retired socket
    // A rotation that failed while the open socket still works changes nothing.
    if (socket !== this.current && this.current !== undefined) return;
    if (this.stopped) return;

    this.current = undefined;
    this.stopTimersOfOpenSocket();
    this.forgetSubscriptions();
    const { state, retryInMs } = connectionLost(
      this.reconnect,
      openedAt === undefined ? undefined : Date.now() - openedAt,
    );
    this.reconnect = state;
    clearTimeout(this.retryTimer);
    this.retryTimer = setTimeout(() => this.open(), retryInMs);
    if (shouldPoll(state)) this.startPolling();
    this.emit();
  }

  /**
   * The browser says the network is back: try at once instead of waiting out the backoff, or, with a socket still
   * open, ask it at once whether it still works.
   */
  private readonly connectNow = (): void => {
    this.browserOffline = false;
    if (this.stopped) return;
    if (this.current !== undefined) this.ping();
    if (this.current !== undefined || this.pending !== undefined) {
      this.emit();
      return;
    }
    clearTimeout(this.retryTimer);
    this.open();
    this.emit();
  };

  /** The browser says it is offline: nothing arrives now, so the page stops saying Live and gives the socket up. */
  private readonly wentOffline = (): void => {
    this.browserOffline = true;
    if (this.current !== undefined) this.giveUp(this.current, 4001, 'the browser is offline');
    this.emit();
  };

  /** Sends a ping the socket must answer within PONG_DEADLINE_MS (any message counts), or be given up. */
  private ping(): void {
    const socket = this.current;
    if (socket?.readyState !== WebSocket.OPEN) return;
    // Armed before sending, so an answer, however soon, finds it to clear.
    this.pongTimer ??= setTimeout(() => {
      this.pongTimer = undefined;
      if (socket === this.current) this.giveUp(socket, 4002, 'no answer to a ping');
    }, PONG_DEADLINE_MS);
    this.sendAll([{ action: 'ping' }]);
  }

  /**
   * Treats the open socket as dropped now, rather than when its close completes: a connection the network cut may
   * take minutes to report its close.
   */
  private giveUp(socket: WebSocket, code: number, reason: string): void {
    const openedAt = this.currentOpenedAt;
    socket.close(code, reason);
    this.closed(socket, openedAt);
  }

  private receive(data: unknown, socket: WebSocket): void {
    // Anything arriving on the open socket answers its ping: it carries.
    if (socket === this.current) {
      clearTimeout(this.pongTimer);
      this.pongTimer = undefined;
    }
    if (typeof data !== 'string') return;
    let json: unknown;
    try {
      json = JSON.parse(data);
    } catch {
      return;
    }
    if (isGatewayError(json)) {
      // Throttled, or the handler failed: which message it was is not said, so every unconfirmed subscribe is retried.
      if (socket === this.current) for (const agentId of this.watchers.keys()) this.retrySubscribe(agentId);
      return;
    }
    const parsed = serverMessage.safeParse(json);
    if (!parsed.success) {
      // Dropped, not guessed at: a message outside the contract is a bug to see in the console, not to render.
      console.warn(`Ignored a WebSocket message outside the contract: ${z.prettifyError(parsed.error)}`);
      return;
    }
    const message = parsed.data;
    switch (message.type) {
      case 'snapshot':
      case 'update': {
        const { type, ...view } = message;
        // Only a subscription of this socket brings it the agent's snapshots and updates: either one confirms it.
        if (socket === this.current) this.confirmSubscription(view.agentId);
        this.accept(view.agentId, mergeAgentView(this.views.get(view.agentId), view, type));
        this.emit();
        break;
      }
      case 'heartbeat':
        this.accept(message.agentId, applyHeartbeat(this.views.get(message.agentId), message));
        break;
      case 'error':
        if (message.agentId === undefined) break;
        if (message.code === 'internal') {
          this.retrySubscribe(message.agentId);
        } else {
          clearTimeout(this.subscribing.get(message.agentId)?.timer);
          this.subscribing.delete(message.agentId);
          this.problems.set(message.agentId, message.code);
        }
        this.emit();
        break;
      case 'fleet':
      case 'fleet-subscribed':
        for (const listener of this.fleetListeners) listener(message);
        break;
      case 'logs':
        for (const listener of this.logListeners.get(message.agentId) ?? []) listener(message);
        break;
      case 'pong':
        break;
    }
  }

  /**
   * Calls `listener` with each batch of `agentId`'s log lines that arrives (the agent must be watched: its subscription
   * brings them) until the returned function is called. Batches the socket missed are read with `api.logs`.
   */
  onLogs(agentId: string, listener: (message: LogsEvent) => void): () => void {
    const listeners = this.logListeners.get(agentId) ?? new Set();
    listeners.add(listener);
    this.logListeners.set(agentId, listeners);
    return () => {
      listeners.delete(listener);
      if (listeners.size === 0) this.logListeners.delete(agentId);
    };
  }

  /**
   * Follows the fleet channel (every agent's changes, in summary) until the returned function is called; each new
   * socket subscribes again, and `fleet-subscribed` tells the listener to re-read what it may have missed meanwhile.
   */
  watchFleet(listener: (message: FleetEvent) => void): () => void {
    this.fleetListeners.add(listener);
    if (this.fleetListeners.size === 1) this.sendAll([{ action: 'subscribeFleet' }]);
    return () => {
      this.fleetListeners.delete(listener);
      if (this.fleetListeners.size === 0) this.sendAll([{ action: 'unsubscribeFleet' }]);
    };
  }

  private accept(agentId: string, next: AgentView | undefined): void {
    if (next === undefined) return;
    this.views.set(agentId, next);
    this.problems.delete(agentId);
    this.emit();
  }

  private async poll(agentId: string): Promise<void> {
    try {
      const read = await this.options.api.getAgent(agentId, this.etags.get(agentId));
      if (!read.modified) return;
      if (read.etag !== undefined) this.etags.set(agentId, read.etag);
      this.accept(agentId, mergeAgentView(this.views.get(agentId), read.view, 'snapshot'));
    } catch (error) {
      if (error instanceof ApiError && (error.status === 403 || error.status === 404)) {
        this.problems.set(agentId, error.status === 403 ? 'forbidden' : 'not_found');
        this.emit();
      }
      // Anything else (network down, 5xx, a body outside the contract) is retried by the next poll or healed by the
      // socket; it is logged so that a contract mismatch does not go unnoticed.
      else
        console.warn(
          `Reading agent ${agentId} failed: ${error instanceof z.ZodError ? z.prettifyError(error) : String(error)}`,
        );
    }
  }

  private startPolling(): void {
    if (this.pollTimer !== undefined) return;
    const pollAll = (): void => {
      for (const agentId of this.watchers.keys()) void this.poll(agentId);
    };
    pollAll();
    this.pollTimer = setInterval(pollAll, POLL_INTERVAL_MS);
  }

  private stopPolling(): void {
    clearInterval(this.pollTimer);
    this.pollTimer = undefined;
  }

  /** Sends a subscribe for each agent on the open socket; one its snapshot does not confirm in time is sent again. */
  private subscribeTo(agentIds: Iterable<string>): void {
    if (this.current?.readyState !== WebSocket.OPEN) return;
    for (const message of resubscribeMessages(agentIds, this.views)) {
      if (message.action !== 'subscribe') continue;
      const { agentId } = message;
      this.sendAll([message]);
      const attempts = this.subscribing.get(agentId)?.attempts ?? 0;
      clearTimeout(this.subscribing.get(agentId)?.timer);
      this.subscribing.set(agentId, {
        attempts,
        timer: setTimeout(() => this.retrySubscribe(agentId), SUBSCRIBE_CONFIRM_MS),
      });
    }
  }

  /** Sends the agent's subscribe again after a full-jitter backoff, unless it is confirmed or no longer watched. */
  private retrySubscribe(agentId: string): void {
    if (!this.watchers.has(agentId) || this.subscribed.has(agentId) || this.current === undefined) return;
    const attempts = (this.subscribing.get(agentId)?.attempts ?? 0) + 1;
    clearTimeout(this.subscribing.get(agentId)?.timer);
    this.subscribing.set(agentId, {
      attempts,
      timer: setTimeout(() => this.subscribeTo([agentId]), backoffDelayMs(attempts)),
    });
  }

  private confirmSubscription(agentId: string): void {
    if (!this.watchers.has(agentId)) return;
    clearTimeout(this.subscribing.get(agentId)?.timer);
    this.subscribing.delete(agentId);
    this.subscribed.add(agentId);
  }

  private forgetSubscriptions(): void {
    for (const { timer } of this.subscribing.values()) clearTimeout(timer);
    this.subscribing.clear();
    this.subscribed.clear();
  }

  private stopTimersOfOpenSocket(): void {
    clearInterval(this.pingTimer);
    clearTimeout(this.rotateTimer);
    clearTimeout(this.pongTimer);
    this.pongTimer = undefined;
  }

  private sendAll(messages: readonly ClientMessage[]): void {
    const socket = this.current;
    if (socket?.readyState !== WebSocket.OPEN) return;
    for (const message of messages) socket.send(JSON.stringify(message));
  }

  private emit(): void {
    this.state = {
      status:
        this.stopped || this.browserOffline
          ? 'offline'
          : shownStatus(this.reconnect.status, this.watchers.keys(), this.subscribed, this.problems),
      agents: new Map(this.views),
      problems: new Map(this.problems),
    };
    for (const listener of this.listeners) listener();
  }
}
