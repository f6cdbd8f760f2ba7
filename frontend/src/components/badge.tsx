import type { Badge } from '../presentation.ts';

/** A status as icon + text; the icon is decoration, the text is what assistive technology reads. */
export function StatusBadge({ badge, testId }: { badge: Badge; testId?: string }) {
  return (
    <span class={`badge badge--${badge.tone}`} data-testid={testId}>
      <span class="badge__icon" aria-hidden="true">
        {badge.icon}
      </span>
      {badge.label}
    </span>
  );
}
