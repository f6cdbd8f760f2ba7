/**
 * What every page of the dashboard does on arrival: names itself in the browser's title ("<page> · Agents", so tabs,
 * history and screen readers tell pages apart) and moves the keyboard focus to its heading, so that after a
 * navigation, or a return from the checkout, focus is not left on the body of the page that was.
 */
import type { RefObject } from 'preact';
import { useEffect, useRef } from 'preact/hooks';

export const PRODUCT_NAME = 'Agents';

/** The browser title of a page. */
export function pageTitle(page: string): string {
  return `${page} · ${PRODUCT_NAME}`;
}

/**
 * Titles the document `pageTitle(page)` and focuses the returned heading once per page shown (the heading needs
 * `tabIndex={-1}`); `page` undefined: not ready yet (the heading is not rendered).
 */
export function usePageHeading(page: string | undefined): RefObject<HTMLHeadingElement | null> {
  const heading = useRef<HTMLHeadingElement>(null);
  const focused = useRef(false);
  useEffect(() => {
    if (page === undefined) return;
    document.title = pageTitle(page);
    if (focused.current || heading.current === null) return;
    focused.current = true;
    heading.current.focus();
  }, [page]);
  return heading;
}

/** The id of each page's `main`, which the skip link moves the focus to. */
export const MAIN_ID = 'main-content';
