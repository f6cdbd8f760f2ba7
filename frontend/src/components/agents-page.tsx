import { useEffect, useState } from 'preact/hooks';
import { REGIONS, type Region } from '../../../lambdas/domain/schemas.ts';
import type { AgentSummary } from '../api.ts';
import { agentStatusBadge } from '../presentation.ts';
import { agentHref } from '../router.ts';
import { useLiveState, useServices } from '../services.ts';
import { StatusBadge } from './badge.tsx';
import { Notice } from './notice.tsx';

/** The signed-in user's agents, with live statuses, and the form that buys a new one. */
export function AgentsPage() {
  const { api, live } = useServices();
  const [agents, setAgents] = useState<AgentSummary[]>();
  const [problem, setProblem] = useState<string>();

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
    <main class="page">
      <section aria-labelledby="agents-heading">
        <h1 id="agents-heading">Your agents</h1>
        {problem !== undefined ? (
          <Notice tone="bad" role="alert">
            {problem}
          </Notice>
        ) : agents === undefined ? (
          <p aria-busy="true">Loading…</p>
        ) : agents.length === 0 ? (
          <p data-testid="no-agents">No agents yet. Create your first one below.</p>
        ) : (
          <AgentList agents={agents} />
        )}
      </section>
      <NewAgentForm />
    </main>
  );
}

function AgentList({ agents }: { agents: readonly AgentSummary[] }) {
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

/** Creates the agent, opens its checkout, and sends the browser there; paying starts provisioning. */
function NewAgentForm() {
  const { api } = useServices();
  const [name, setName] = useState('');
  const [region, setRegion] = useState<Region>(REGIONS[0]);
  const [busy, setBusy] = useState(false);
  const [problem, setProblem] = useState<string>();

  const submit = async (event: Event): Promise<void> => {
    event.preventDefault();
    setBusy(true);
    setProblem(undefined);
    try {
      const agentId = await api.createAgent({ name: name.trim(), region });
      location.assign(await api.checkout(agentId));
    } catch (error) {
      setProblem(error instanceof Error ? error.message : 'Could not create the agent');
      setBusy(false);
    }
  };

  return (
    <section aria-labelledby="new-agent-heading" class="card">
      <h2 id="new-agent-heading">New agent</h2>
      <form class="form" onSubmit={(event) => void submit(event)} data-testid="new-agent">
        <label for="agent-name">Name</label>
        <input
          id="agent-name"
          name="name"
          required
          maxLength={80}
          value={name}
          onInput={(event) => setName(event.currentTarget.value)}
        />
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
          <p class="form__error" role="alert">
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
