/**
 * The browser tab follows the agent's state (#24.3): its title starts with the state ("✓ Running · Helper · Agents",
 * so a background tab says it) and its icon is a dot of the state's tone, put back when the page goes.
 */
import { useEffect } from 'preact/hooks';
import type { Badge } from './presentation.ts';

const TONE_COLOURS: Readonly<Record<Badge['tone'], string>> = {
  neutral: '#6b7280',
  progress: '#1d4ed8',
  good: '#15803d',
  bad: '#b91c1c',
};

/** The page name for the tab's title: the state first, then the agent's name. */
export function agentTabName(badge: Badge, name: string): string {
  return `${badge.icon} ${badge.label} · ${name}`;
}

/** An SVG dot of the tone's colour, as a data URL for the tab's icon. */
export function toneIcon(tone: Badge['tone']): string {
  const svg = `<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 32 32"><circle cx="16" cy="16" r="13" fill="${TONE_COLOURS[tone]}"/></svg>`;
  return `data:image/svg+xml,${encodeURIComponent(svg)}`;
}

/** Shows `tone` as the tab's icon while the calling view is on the page. */
export function useTabIcon(tone: Badge['tone'] | undefined): void {
  useEffect(() => {
    const link = document.querySelector<HTMLLinkElement>('link[rel="icon"]');
    if (tone === undefined || link === null) return;
    const original = { href: link.getAttribute('href'), type: link.getAttribute('type') };
    link.setAttribute('href', toneIcon(tone));
    link.setAttribute('type', 'image/svg+xml');
    return () => {
      if (original.href === null) link.removeAttribute('href');
      else link.setAttribute('href', original.href);
      if (original.type === null) link.removeAttribute('type');
      else link.setAttribute('type', original.type);
    };
  }, [tone]);
}
