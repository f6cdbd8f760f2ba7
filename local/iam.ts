/**
 * IAM on the local runtime: every AWS call checked against its role's policies in the synthesized template.
 * See docs/ARCHITECTURE.md, "Roles, and IAM on the local runtime".
 */
import { randomBytes } from 'node:crypto';
import type { IncomingHttpHeaders } from 'node:http';
import { InvokeStore, InvokeStoreBase } from '@aws/lambda-invoke-store';
import {
  isWildcardOnlyAction,
  runSimulation,
  runUnsafeSimulation,
  type EvaluationResult,
  type Simulation,
} from '@cloud-copilot/iam-simulate';
import type { CloudFormationTemplate, CloudFormationValue } from './template.ts';

export const LOCAL_ACCOUNT_ID = '000000000000';
export const LOCAL_IAM_REGION = 'us-east-1';

/** One action on one resource, as IAM authorizes it (`dynamodb:UpdateItem` on a table ARN). */
export interface IamRequest {
  readonly action: string;
  readonly resource: string;
}

/** A policy document as written in the template, its intrinsics resolved. */
interface PolicyDocument {
  readonly Version?: string;
  readonly Statement: unknown;
}

/** The identity a call is made with: a role's session, and the policies attached to the role. */
export interface Principal {
  /** `arn:aws:sts::<account>:assumed-role/<role>/<session>`, what AWS names in a denial. */
  readonly arn: string;
  readonly roleLogicalId: string;
  readonly policies: readonly { readonly name: string; readonly policy: PolicyDocument }[];
}

/** Maps a resource reference of the template (`Ref`, or `Fn::GetAtt` with its attribute) to its local value. */
export type ReferenceResolver = (logicalId: string, attribute: string | undefined) => string | undefined;

/** An AWS-style denial: what the local endpoints answer with (each in its service's error shape). */
export class AccessDeniedError extends Error {
  constructor(
    readonly principal: Principal,
    readonly request: IamRequest,
    explicit: boolean,
  ) {
    super(
      `User: ${principal.arn} is not authorized to perform: ${request.action} on resource: ${request.resource} ` +
        (explicit
          ? 'with an explicit deny in an identity-based policy'
          : `because no identity-based policy allows the ${request.action} action`),
    );
    this.name = 'AccessDeniedException';
  }
}

/**
 * Resolves the intrinsic functions the template's policies use: `Ref` (pseudo parameters too), `Fn::GetAtt`,
 * `Fn::Join` and `Fn::Sub`. A reference the local runtime has no value for becomes an ARN that matches nothing it
 * calls (log groups, queues, buckets: services the local runtime does not run).
 */
export function resolveIntrinsics(value: CloudFormationValue, resolveReference: ReferenceResolver): unknown {
  const reference = (logicalId: string, attribute?: string): string => {
    const pseudo = PSEUDO_PARAMETERS[logicalId];
    if (pseudo !== undefined && attribute === undefined) return pseudo;
    return (
      resolveReference(logicalId, attribute) ??
      `arn:aws:local:::unresolved/${logicalId}${attribute ? `.${attribute}` : ''}`
    );
  };
  const resolve = (current: CloudFormationValue): unknown => {
    if (Array.isArray(current)) return current.map(resolve);
    if (current === null || typeof current !== 'object') return current;
    const [key, argument] = Object.entries(current)[0] ?? [];
    if (Object.keys(current).length === 1 && argument !== undefined) {
      if (key === 'Ref' && typeof argument === 'string') return reference(argument);
      if (key === 'Fn::GetAtt') {
        const [logicalId, attribute] = Array.isArray(argument) ? argument : String(argument).split('.');
        return reference(String(logicalId), String(attribute));
      }
      if (key === 'Fn::Join' && Array.isArray(argument)) {
        const [separator, parts] = argument;
        return (resolve(parts ?? []) as unknown[]).join(String(separator));
      }
      if (key === 'Fn::Sub') {
        const [text, variables] = Array.isArray(argument) ? argument : [argument, {}];
        const named = (resolve(variables ?? {}) ?? {}) as Record<string, unknown>;
        return String(text).replace(/\$\{([^}!]+)\}/g, (_match, name: string) => {
          if (Object.hasOwn(named, name)) return String(named[name]);
          const [logicalId = '', attribute] = name.split('.');
          return reference(logicalId, attribute);
        });
      }
    }
    return Object.fromEntries(Object.entries(current).map(([name, inner]) => [name, resolve(inner)]));
  };
  return resolve(value);
}

const PSEUDO_PARAMETERS: Record<string, string> = {
  'AWS::Partition': 'aws',
  'AWS::Region': LOCAL_IAM_REGION,
  'AWS::AccountId': LOCAL_ACCOUNT_ID,
  'AWS::URLSuffix': 'amazonaws.com',
  'AWS::StackName': 'AgentPipeline',
};

/**
 * The IAM side of the template: each role's policies (inline `Policies` and the `AWS::IAM::Policy` /
 * `AWS::IAM::ManagedPolicy` resources attached to it), resolved to local ARNs, and the evaluation of requests
 * against them. Decisions are cached per principal, action and resource; resources that differ only in their last
 * path segment (each `@connections/<id>`) share one decision when the role's policies cannot tell them apart.
 */
export class LocalIam {
  private readonly principals = new Map<string, Principal>();
  private readonly decisions = new Map<Principal, Map<string, EvaluationResult | Promise<EvaluationResult>>>();
  /** Per principal, whether its policies decide alike for every resource `<prefix><segment>` (by prefix). */
  private readonly uniformPrefixes = new Map<Principal, Map<string, boolean>>();

  constructor(
    private readonly template: CloudFormationTemplate,
    private readonly resolveReference: ReferenceResolver,
  ) {}

  /** The principal of a Lambda function: its execution role, in a session named after the function. */
  functionPrincipal(functionLogicalId: string, functionName = functionLogicalId): Principal {
    return this.principalOf(functionLogicalId, functionName, 'AWS::Lambda::Function', 'Role');
  }

  /** The principal of a state machine's executions: its role. */
  stateMachinePrincipal(stateMachineLogicalId: string): Principal {
    return this.principalOf(
      stateMachineLogicalId,
      stateMachineLogicalId,
      'AWS::StepFunctions::StateMachine',
      'RoleArn',
    );
  }

  /** Resolves with the denial of the first request `principal` may not make, or undefined when all are allowed. */
  async check(principal: Principal, requests: readonly IamRequest[]): Promise<AccessDeniedError | undefined> {
    for (const request of requests) {
      const denial = await this.decide(principal, request);
      if (denial !== undefined) return denial;
    }
    return undefined;
  }

  /** Like `check`, but throws the denial. */
  async authorize(principal: Principal, requests: readonly IamRequest[]): Promise<void> {
    const denial = await this.check(principal, requests);
    if (denial !== undefined) throw denial;
  }

  private principalOf(logicalId: string, sessionName: string, type: string, roleProperty: string): Principal {
    const key = `${logicalId}/${sessionName}`;
    const known = this.principals.get(key);
    if (known !== undefined) return known;
    const resource = this.template.Resources[logicalId];
    if (resource?.Type !== type) throw new Error(`No ${type} ${logicalId} in the template`);
    const role = resource.Properties?.[roleProperty] as CloudFormationValue | undefined;
    const getAtt = role !== null && typeof role === 'object' && !Array.isArray(role) ? role['Fn::GetAtt'] : undefined;
    const roleLogicalId = Array.isArray(getAtt) && typeof getAtt[0] === 'string' ? getAtt[0] : undefined;
    if (roleLogicalId === undefined) throw new Error(`${logicalId}: its ${roleProperty} is not a role of the template`);
    const principal: Principal = {
      arn: `arn:aws:sts::${LOCAL_ACCOUNT_ID}:assumed-role/${roleLogicalId}/${sessionName}`,
      roleLogicalId,
      policies: this.policiesOf(roleLogicalId),
    };
    this.principals.set(key, principal);
    return principal;
  }

  private policiesOf(roleLogicalId: string): Principal['policies'] {
    const resolve = (document: unknown) =>
      resolveIntrinsics(document as CloudFormationValue, this.resolveReference) as PolicyDocument;
    const role = this.template.Resources[roleLogicalId];
    if (role?.Type !== 'AWS::IAM::Role') throw new Error(`No role ${roleLogicalId} in the template`);
    const inline = ((role.Properties?.Policies ?? []) as { PolicyName: string; PolicyDocument: unknown }[]).map(
      (policy) => ({
        name: policy.PolicyName,
        policy: resolve(policy.PolicyDocument),
      }),
    );
    const attached = Object.entries(this.template.Resources)
      .filter(([, resource]) => resource.Type === 'AWS::IAM::Policy' || resource.Type === 'AWS::IAM::ManagedPolicy')
      .filter(([, resource]) =>
        ((resource.Properties?.Roles ?? []) as CloudFormationValue[]).some(
          (reference) =>
            reference !== null &&
            typeof reference === 'object' &&
            !Array.isArray(reference) &&
            reference.Ref === roleLogicalId,
        ),
      )
      .map(([logicalId, resource]) => ({ name: logicalId, policy: resolve(resource.Properties?.PolicyDocument) }));
    return [...inline, ...attached];
  }

  private async decide(principal: Principal, request: IamRequest): Promise<AccessDeniedError | undefined> {
    let byRequest = this.decisions.get(principal);
    if (byRequest === undefined) this.decisions.set(principal, (byRequest = new Map()));
    // One evaluation per connection id would cost a policy evaluation on each new connection's first message.
    const family = this.familyOf(principal, request.resource);
    const key = `${request.action} ${family ?? request.resource}`;
    let decision = byRequest.get(key);
    if (decision === undefined) {
      const evaluation = evaluate(principal, request);
      byRequest.set(key, evaluation);
      // Once known, the decision itself replaces its promise: the calls after it (every post) await nothing.
      void evaluation.then((result) => byRequest.set(key, result)).catch(() => undefined);
      decision = evaluation;
    }
    const result = typeof decision === 'string' ? decision : await decision;
    return result === 'Allowed' ? undefined : new AccessDeniedError(principal, request, result === 'ExplicitlyDenied');
  }

  /**
   * `<prefix>*` when the resource is `<prefix><segment>` (its last path segment a plain name, e.g. a connection id)
   * and no Resource or NotResource pattern of the principal's policies can match some such segments and not others,
   * so that one decision holds for all of them; undefined otherwise. Any Condition or policy variable in its policies
   * rules it out: those could depend on the resource.
   */
  private familyOf(principal: Principal, resource: string): string | undefined {
    const slash = resource.lastIndexOf('/');
    if (slash < 0 || !PLAIN_SEGMENT.test(resource.slice(slash + 1))) return undefined;
    const prefix = resource.slice(0, slash + 1);
    let byPrefix = this.uniformPrefixes.get(principal);
    if (byPrefix === undefined) this.uniformPrefixes.set(principal, (byPrefix = new Map()));
    let uniform = byPrefix.get(prefix);
    if (uniform === undefined) {
      const patterns = resourcePatterns(principal);
      uniform = patterns?.every((pattern) => matchesEverySegmentOrNone(pattern, prefix)) ?? false;
      byPrefix.set(prefix, uniform);
    }
    return uniform ? `${prefix}*` : undefined;
  }
}

/** A last path segment that is a name, not a pattern: no wildcard, no separator, no policy variable. */
const PLAIN_SEGMENT = /^[A-Za-z0-9_.=+-]+$/;

/**
 * Every Resource and NotResource pattern of the principal's policies, whatever the action; undefined when a statement
 * has a Condition or a pattern is not a plain string (a policy variable), which the family cache does not reason about.
 */
function resourcePatterns(principal: Principal): string[] | undefined {
  const patterns: string[] = [];
  for (const { policy } of principal.policies) {
    const statements = Array.isArray(policy.Statement) ? policy.Statement : [policy.Statement];
    for (const statement of statements as Record<string, unknown>[]) {
      if (statement.Condition !== undefined) return undefined;
      for (const element of [statement.Resource, statement.NotResource]) {
        for (const pattern of element === undefined ? [] : Array.isArray(element) ? element : [element]) {
          if (typeof pattern !== 'string' || pattern.includes('${')) return undefined;
          patterns.push(pattern);
        }
      }
    }
  }
  return patterns;
}

/**
 * Whether the IAM pattern (`*` any characters, `?` one) matches either every `<prefix><segment>` or none of them, for
 * any plain non-empty segment. After reading `prefix` the pattern may be at several places; each must be before only
 * `*`s (matches every segment), at its end or before a character no plain segment has (matches none). Matched case-insensitively and with `*` crossing `:` and `/`,
 * both looser than IAM: the places found are a superset of IAM's, so `true` holds for IAM too.
 */
export function matchesEverySegmentOrNone(pattern: string, prefix: string): boolean {
  const text = pattern.toLowerCase();
  const skipStars = (positions: Set<number>) => {
    for (const position of positions) if (text[position] === '*') positions.add(position + 1);
    return positions;
  };
  let positions = skipStars(new Set([0]));
  for (const character of prefix.toLowerCase()) {
    const next = new Set<number>();
    for (const position of positions) {
      if (text[position] === '*') next.add(position);
      else if (text[position] === '?' || text[position] === character) next.add(position + 1);
    }
    positions = skipStars(next);
    if (positions.size === 0) return true;
  }
  return [...positions].every((position) => {
    const rest = text.slice(position);
    // Only `*`s: matches every segment. A character no plain segment has (a `/`, a `:`): matches none.
    return /^\**$/.test(rest) || /[^a-z0-9_.=+\-*?]/.test(rest);
  });
}

async function evaluate(principal: Principal, request: IamRequest): Promise<EvaluationResult> {
  const simulation: Simulation = {
    request: {
      principal: principal.arn,
      action: request.action,
      resource: { resource: request.resource, accountId: LOCAL_ACCOUNT_ID },
      contextVariables: {},
    },
    identityPolicies: principal.policies.map(({ name, policy }) => ({ name, policy })),
    serviceControlPolicies: [],
    resourceControlPolicies: [],
  };
  const [service = '', action = ''] = request.action.split(':');
  let result: EvaluationResult;
  if (request.resource !== '*' && (await isWildcardOnlyAction(service, action))) {
    // Documented without resource-level permissions, yet AWS authorizes SendTask* on the token's state machine (its
    // denials name it, and a grant on it works): evaluated as AWS does, without the simulator's input validation.
    result = runUnsafeSimulation(simulation, {});
  } else {
    const response = await runSimulation(simulation, {});
    if (response.resultType === 'error') {
      throw new Error(`IAM simulation of ${request.action} on ${request.resource}: ${JSON.stringify(response.errors)}`);
    }
    result = response.overallResult;
  }
  return result;
}

/**
 * The multi-context store (AsyncLocalStorage), which the Node.js runtime uses for concurrent invocations in one process.
 * The first request of any SDK client creates the process-wide store, so it is created here, when this module loads.
 */
const invokeStore = InvokeStore.getInstanceAsync(true);

/** What the local endpoints know about a request's caller. */
export type Caller =
  | { readonly kind: 'invocation'; readonly principal: Principal }
  | { readonly kind: 'operator' }
  | { readonly kind: 'ended' };

/**
 * The invocations running now, each under the principal it calls AWS as. `run` gives an invocation its own trace id
 * in Lambda's `InvokeStore`; `callerOf` finds the invocation from the `X-Amzn-Trace-Id` header the SDK sent.
 * Requests without the header come from no function: the operator's own tools and the runtime (tests reading the
 * table, creating it), which IAM does not restrict here as the account's administrator is not restricted in AWS.
 */
export class Invocations {
  private readonly running = new Map<string, Principal>();

  constructor() {
    // The SDK sends the invocation's trace id only inside a Lambda function, which it recognizes by this variable.
    process.env.AWS_LAMBDA_FUNCTION_NAME ??= 'local-runtime';
  }

  /** Runs `fn` (an invocation) as `principal`. */
  async run<T>(principal: Principal, fn: () => Promise<T>): Promise<T> {
    const store = await invokeStore;
    if (store.constructor.name !== 'InvokeStoreMulti') {
      throw new Error(
        'The process-wide InvokeStore was created before local/iam.ts was loaded: invocations cannot be told apart',
      );
    }
    const root = `1-${Math.floor(Date.now() / 1000).toString(16)}-${randomBytes(12).toString('hex')}`;
    this.running.set(root, principal);
    try {
      return await store.run({ [InvokeStoreBase.PROTECTED_KEYS.X_RAY_TRACE_ID]: `Root=${root};Sampled=0` }, fn);
    } finally {
      this.running.delete(root);
    }
  }

  /** The caller of a request that reached a local endpoint, from its headers. */
  callerOf(headers: IncomingHttpHeaders): Caller {
    const header = headers['x-amzn-trace-id'];
    const root = /(?:^|;)Root=([^;]+)/.exec(typeof header === 'string' ? header : '')?.[1];
    if (root === undefined) return { kind: 'operator' };
    const principal = this.running.get(root);
    return principal === undefined ? { kind: 'ended' } : { kind: 'invocation', principal };
  }
}

/** Checks a request that reached a local endpoint: AWS's denial message, or undefined when the caller may make it. */
export type EndpointAuthorizer = (
  headers: IncomingHttpHeaders,
  requests: readonly IamRequest[],
) => Promise<string | undefined>;

/** The authorizer of the local endpoints: requests from a running invocation are checked against its role. */
export function endpointAuthorizer(iam: LocalIam, invocations: Invocations): EndpointAuthorizer {
  return async (headers, requests) => {
    const caller = invocations.callerOf(headers);
    if (caller.kind === 'operator') return undefined;
    if (caller.kind === 'ended') return 'The invocation that made this request has ended';
    return (await iam.check(caller.principal, requests))?.message;
  };
}
