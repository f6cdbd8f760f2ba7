import type { ConnectionStatus } from '../live/reconnect.ts';
import { useLiveState } from '../services.ts';
import type { Badge } from '../presentation.ts';
import { StatusBadge } from './badge.tsx';

const CONNECTION_BADGES: Readonly<Record<ConnectionStatus, Badge>> = {
  connecting: { label: 'Connecting', icon: '◌', tone: 'progress' },
  live: { label: 'Live', icon: '●', tone: 'good' },
  reconnecting: { label: 'Reconnecting', icon: '◌', tone: 'progress' },
  offline: { label: 'Offline', icon: '○', tone: 'bad' },
};

/** Whether updates arrive live; announced politely when it changes. */
export function ConnectionIndicator() {
  const { status } = useLiveState();
  return (
    <div role="status" aria-live="polite" class="connection" data-testid="connection" data-state={status}>
      <StatusBadge badge={CONNECTION_BADGES[status]} />
    </div>
  );
}
