import { useEffect, useRef, useState } from 'preact/hooks';
import type { AgentView } from '../../../lambdas/domain/schemas.ts';

/**
 * Opt-in browser notifications (#24.3): while the agent is being provisioned the page offers to notify; once allowed,
 * the agent becoming Running or Failed shows a notification, so a background tab or another window hears of it.
 */
function notificationsOf(): typeof Notification | undefined {
  return typeof Notification === 'undefined' ? undefined : Notification;
}

/** What a notification says of the agent's new state, or undefined for a state nobody waits for. */
export function stateNotificationText(view: AgentView): { title: string; body: string } | undefined {
  if (view.agentStatus === 'active') return { title: `${view.name} is running`, body: 'Provisioning finished.' };
  if (view.agentStatus === 'failed') {
    return { title: `${view.name} failed`, body: view.error ?? 'Provisioning failed: open the agent to retry.' };
  }
  return undefined;
}

export function StateNotifications({ view }: { view: AgentView }) {
  const notifications = notificationsOf();
  const [permission, setPermission] = useState(notifications?.permission);
  const previous = useRef(view.agentStatus);
  useEffect(() => {
    const was = previous.current;
    previous.current = view.agentStatus;
    if (was !== 'provisioning' || view.agentStatus === 'provisioning' || notifications?.permission !== 'granted')
      return;
    const text = stateNotificationText(view);
    if (text !== undefined) new notifications(text.title, { body: text.body, tag: `agent-${view.agentId}` });
  }, [view, notifications]);

  if (notifications === undefined || view.agentStatus !== 'provisioning' || permission !== 'default') return null;
  return (
    <p>
      <button
        type="button"
        class="button"
        data-testid="notify-me"
        onClick={() => void notifications.requestPermission().then(setPermission)}
      >
        Notify me when it is ready
      </button>
    </p>
  );
}
