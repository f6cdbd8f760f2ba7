import { useEffect, useState } from 'preact/hooks';
import { AGENT_NAME_MAX_LENGTH, agentName, REGIONS, type Region } from '../../../lambdas/domain/schemas.ts';
import { problemsOf } from '../../../lambdas/domain/validation.ts';
import type { AgentSummary } from '../api.ts';
import { MAIN_ID, usePageHeading } from '../page.ts';
import { agentStatusBadge } from '../presentation.ts';
import { agentHref } from '../router.ts';
import { useLiveState, useServices } from '../services.ts';
import { StatusBadge } from './badge.tsx';
import { DeleteDraftButton } from './delete-draft-button.tsx';
import { Notice } from './notice.tsx';

/** The signed-in user's agents, with live statuses, and the form that buys a new one. */
export function AgentsPage() {
  const { api, live } = useServices();
  const [agents, setAgents] = useState<AgentSummary[]>();
  const [problem, setProblem] = useState<string>();
  const heading = usePageHeading('Your agents');

  useEffect(() => {
    let cancelled = false;
    api.listAgents().then(
      (list) => !cancelled && setAgents(list),
      (error: unknown) =>
        !cancelled && setProblem(error instanceof Error ? error.message : 'Could not load your agents'),
    );
    return () => {
      cancelled = true;
    };
  }, [api]);

  // Every listed agent is watched, so its badge follows along live.
  useEffect(() => {
    const unwatch = (agents ?? []).map((agent) => live.watch(agent.agentId));
    return () => {
      for (const stop of unwatch) stop();
    };
  }, [agents, live]);

  return (
    <main class="page" id={MAIN_ID} tabIndex={-1}>
      <section aria-labelledby="agents-heading">
        <h1 id="agents-heading" tabIndex={-1} ref={heading}>
          Your agents
        </h1>
        {problem !== undefined ? (
          <Notice tone="bad" role="alert">
            {problem}
          </Notice>
        ) : agents === undefined ? (
          <p aria-busy="true">Loading…</p>
        ) : agents.length === 0 ? (
          <p data-testid="no-agents">No agents yet. Create your first one below.</p>
        ) : (
          <AgentList
            agents={agents}
            onDeleted={(agentId) => setAgents(agents.filter((agent) => agent.agentId !== agentId))}
          />
        )}
      </section>
      <NewAgentForm />
    </main>
  );
}

/** The caller's agents; a draft's Delete removes it here on the API's answer (no message comes for it). */
function AgentList({ agents, onDeleted }: { agents: readonly AgentSummary[]; onDeleted: (agentId: string) => void }) {
  const { agents: live } = useLiveState();
  return (
    <ul class="agent-list" data-testid="agent-list">
      {agents.map((agent) => {
        const status = live.get(agent.agentId)?.agentStatus ?? agent.agentStatus;
        return (
          <li key={agent.agentId} class="card agent-list__item" data-testid={`agent-${agent.agentId}`}>
            <a href={agentHref(agent.agentId)} class="agent-list__name">
              {agent.name}
            </a>
            <span class="muted">{agent.region}</span>
            <StatusBadge badge={agentStatusBadge(status)} />
            <DeleteDraftButton
              agent={{ ...agent, agentStatus: status }}
              own
              onDeleted={() => onDeleted(agent.agentId)}
            />
          </li>
        );
      })}
    </ul>
  );
}

const REGION_NAMES: Readonly<Record<Region, string>> = {
  fsn1: 'Falkenstein, Germany (fsn1)',
  nbg1: 'Nuremberg, Germany (nbg1)',
  hel1: 'Helsinki, Finland (hel1)',
  ash: 'Ashburn, USA (ash)',
  hil: 'Hillsboro, USA (hil)',
  sin: 'Singapore (sin)',
};

/**
 * Creates the agent, opens its checkout, and sends the browser there; paying starts provisioning. The name is checked
 * as the API checks it (the same schema, the same words: domain/validation.ts) while it is typed, with a counter of
 * the characters left; nothing typed is cut off.
 */
function NewAgentForm() {
  const { api } = useServices();
  const [name, setName] = useState('');
  const [region, setRegion] = useState<Region>(REGIONS[0]);
  const [busy, setBusy] = useState(false);
  const [tried, setTried] = useState(false);
  const [problem, setProblem] = useState<string>();

  const checked = agentName.safeParse(name);
  const nameProblem = checked.success ? undefined : problemsOf(checked.error)[0]?.message;
  const length = name.trim().length;

  const submit = async (event: Event): Promise<void> => {
    event.preventDefault();
    setTried(true);
    if (!checked.success) return;
    setBusy(true);
    setProblem(undefined);
    try {
      const agentId = await api.createAgent({ name: checked.data, region });
      location.assign(await api.checkout(agentId));
    } catch (error) {
      setProblem(error instanceof Error ? error.message : 'Could not create the agent');
      setBusy(false);
    }
  };

  // A name being typed is judged once it is not empty, or once a submit was tried.
  const shownNameProblem = tried || name !== '' ? nameProblem : undefined;
  return (
    <section aria-labelledby="new-agent-heading" class="card">
      <h2 id="new-agent-heading">New agent</h2>
      <form class="form" onSubmit={(event) => void submit(event)} data-testid="new-agent" noValidate>
        <label for="agent-name">Name</label>
        <input
          id="agent-name"
          name="name"
          value={name}
          aria-invalid={shownNameProblem !== undefined}
          aria-describedby="agent-name-count agent-name-problem"
          onInput={(event) => setName(event.currentTarget.value)}
        />
        <span
          id="agent-name-count"
          class={`form__count${length > AGENT_NAME_MAX_LENGTH ? ' form__count--over' : ''}`}
          data-testid="name-count"
        >
          {length} / {AGENT_NAME_MAX_LENGTH} characters
        </span>
        <p id="agent-name-problem" class="form__error" data-testid="name-problem" aria-live="polite">
          {shownNameProblem ?? ''}
        </p>
        <label for="agent-region">Region</label>
        <select
          id="agent-region"
          name="region"
          value={region}
          onChange={(event) => setRegion(event.currentTarget.value as Region)}
        >
          {REGIONS.map((code) => (
            <option key={code} value={code}>
              {REGION_NAMES[code]}
            </option>
          ))}
        </select>
        {problem === undefined ? null : (
          <p class="form__error" role="alert" data-testid="create-problem">
            {problem}
          </p>
        )}
        <button type="submit" class="button button--primary" disabled={busy}>
          {busy ? 'Opening checkout…' : 'Continue to payment'}
        </button>
      </form>
    </section>
  );
}
