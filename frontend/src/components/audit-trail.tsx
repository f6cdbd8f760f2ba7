/**
 * An agent's audit trail: who did what, when and why (operators give a reason), newest first, from
 * `GET /operations/agents/{agentId}/history` (operators and support; redacted for support by the API). Shown per job in
 * the operations console and, for staff, on the agent page.
 */
import { useEffect, useState } from 'preact/hooks';
import type { AuditTrail } from '../api.ts';
import { useServices } from '../services.ts';

export function AuditEntries({ trail }: { trail: AuditTrail | undefined }) {
  return (
    <ol class="audit" data-testid="audit">
      {trail?.entries.map((entry) => (
        <li key={entry.seq} data-event={entry.event}>
          {new Date(entry.at).toLocaleString()} <strong>{entry.event}</strong> by {entry.actor}
          {entry.reason !== undefined && <em> ({entry.reason})</em>}
        </li>
      ))}
    </ol>
  );
}

/** The agent page's history for staff: read again whenever the agent's seq moves on (a new history item). */
export function AgentAuditTrail({ agentId, seq }: { agentId: string; seq: number }) {
  const { api } = useServices();
  const [trail, setTrail] = useState<AuditTrail>();
  useEffect(() => {
    let current = true;
    api
      .auditTrail(agentId)
      .then((read) => current && setTrail(read))
      .catch(() => undefined);
    return () => {
      current = false;
    };
  }, [api, agentId, seq]);
  return (
    <section class="card" aria-label="History" data-testid="agent-history">
      <h2>History</h2>
      <AuditEntries trail={trail} />
    </section>
  );
}
