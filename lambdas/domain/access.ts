/**
 * The one rule of who may see and act on which agent, and what each role is shown. Pure: no AWS imports.
 * See docs/ARCHITECTURE.md, "Roles".
 */
import { AGENT_ACTIONS, type ActionState, type AgentAction, isAcceptedNow } from './lifecycle.ts';
import { inCustomerWords } from './wording.ts';

export const OPERATORS_GROUP = 'operators';
export const SUPPORT_GROUP = 'support';

export const ROLES = ['customer', 'support', 'operator'] as const;
export type Role = (typeof ROLES)[number];

/** The caller of a request or the owner of a WebSocket connection, as the authorizer verified them. */
export interface Caller {
  readonly userId: string;
  readonly role: Role;
}

/** The part of an agent the rule looks at. */
export interface OwnedResource {
  readonly userId: string;
}

/** The role of a token's `cognito:groups`: `operators` outranks `support`; anything else is a customer. */
export function roleOf(groups: readonly string[] | undefined): Role {
  if (groups?.includes(OPERATORS_GROUP)) return 'operator';
  if (groups?.includes(SUPPORT_GROUP)) return 'support';
  return 'customer';
}

/** Operators and support: the operations console, its routes and the fleet channel. */
export function isStaff(caller: Caller): boolean {
  return caller.role !== 'customer';
}

/** May the caller read the agent (REST view, history, WebSocket subscription)? */
export function maySee(caller: Caller, agent: OwnedResource): boolean {
  return isStaff(caller) || agent.userId === caller.userId;
}

/**
 * May the caller ask for an action (retry, stop, start, destroy, cancel) on the agent? The owner and operators; support
 * never acts. (An operator's cancel leaves the agent failed for its owner to retry; the owner's ends in a destroy.)
 */
export function mayAct(caller: Caller, agent: OwnedResource): boolean {
  return caller.role === 'operator' || (caller.role === 'customer' && agent.userId === caller.userId);
}

/**
 * The actions a page offers `caller` on the agent: those the caller may ask for ({@link mayAct}) that the API would
 * accept on the agent as it is (lifecycle.ts#isAcceptedNow). The API decides with the same two rules (403, then 409),
 * so no button is offered that the API refuses, and none is missing that it would accept.
 */
export function offeredActions(caller: Caller, agent: OwnedResource & ActionState): AgentAction[] {
  if (!mayAct(caller, agent)) return [];
  return AGENT_ACTIONS.filter((action) => isAcceptedNow(action, agent));
}

/** Paying is the customer's own act: only the owner opens a checkout, whatever their role. */
export function mayPayFor(caller: Caller, agent: OwnedResource): boolean {
  return agent.userId === caller.userId;
}

/**
 * Deleting a draft is its owner's own act, as paying is: staff who see someone's draft never delete it (403), and
 * support, read only, deletes nothing. Only a draft is offered the button; the API answers anything else 409.
 */
export function mayDeleteDraft(caller: Caller, agent: OwnedResource): boolean {
  return caller.role !== 'support' && mayPayFor(caller, agent);
}

/** An operator's action is audited with a reason (who and when are the token and the clock). */
export function reasonRequired(caller: Caller): boolean {
  return caller.role === 'operator';
}

/** The history's `actor` of a person's action: `user:<id>` for an owner, `operator:<id>` for an operator. */
export function actorOf(caller: Caller): string {
  return caller.role === 'operator' ? `operator:${caller.userId}` : `user:${caller.userId}`;
}

/** Whether what `role` receives must be redacted. */
export function mustRedact(role: Role): boolean {
  return role === 'support';
}

/**
 * Fields that identify a customer or reach their machine: contact, Stripe ids, addresses. Removed wherever they occur
 * in what support receives (top level or nested, e.g. `vm.serverIp`).
 */
export const REDACTED_FIELDS: ReadonlySet<string> = new Set([
  'email',
  'customerId',
  'subscriptionId',
  'refundedSubscriptionIds',
  'checkoutSession',
  'stripeEventId',
  'serverIp',
  'tailscaleIp',
  'ip',
  'sourceIp',
]);

/** What replaces an address found inside free text (an error message may quote the VM's address). */
export const REDACTED_TEXT = '[redacted]';

const IPV4 = /\b(?:\d{1,3}\.){3}\d{1,3}\b/g;
const IPV6 = /(?<![\w:])[0-9a-f]{0,4}(?::[0-9a-f]{0,4}){2,7}(?![\w:])/gi;
const EMAIL = /[^\s@"'<>]+@[^\s@"'<>]+\.[a-z]{2,}/gi;
// Stripe ids carry digits after the prefix; words like `in_progress` do not.
const STRIPE_ID = /\b(?:cus|sub|cs|in|pi|ch|re|evt|si)_(?=[A-Za-z0-9]*\d)[A-Za-z0-9]{8,}\b/g;

/** A time of day (12:30:45) has two colons and no hex letters; an IPv6 address has more colons or letters. */
const isIpv6 = (match: string): boolean => (match.match(/:/g)?.length ?? 0) >= 3 || /[a-f]/i.test(match);

function redactText(text: string): string {
  return text
    .replace(EMAIL, REDACTED_TEXT)
    .replace(STRIPE_ID, REDACTED_TEXT)
    .replace(IPV4, REDACTED_TEXT)
    .replace(IPV6, (match) => (isIpv6(match) ? REDACTED_TEXT : match));
}

/**
 * A copy of `value` without {@link REDACTED_FIELDS} at any depth, and with e-mail addresses, IP addresses and Stripe
 * ids masked inside strings. Safe by default: a field added later is redacted by name wherever it appears.
 */
export function redact<T>(value: T): T {
  if (typeof value === 'string') return redactText(value) as T;
  if (Array.isArray(value)) return value.map((item) => redact(item)) as T;
  if (value !== null && typeof value === 'object') {
    const copy: Record<string, unknown> = {};
    for (const [key, field] of Object.entries(value)) {
      if (!REDACTED_FIELDS.has(key)) copy[key] = redact(field);
    }
    return copy as T;
  }
  return value;
}

/**
 * What `role` is shown of `value`: as is to operators, redacted for support, and to customers with a failure's
 * staff-side text (an operator's note and id, a workflow's message) replaced by the customer's words (wording.ts).
 */
export function shownTo<T>(role: Role, value: T): T {
  if (mustRedact(role)) return redact(value);
  return role === 'customer' ? inCustomerWords(value) : value;
}
