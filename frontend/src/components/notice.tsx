import type { ComponentChildren } from 'preact';

/**
 * A coloured message block (`.notice` in styles.css). `alert` interrupts a screen reader, for what needs acting on;
 * `status` is read when the reader is idle, for news. A `section` holds a heading and buttons; a `p` only text.
 */
export function Notice({
  tone,
  role,
  testId,
  as: Element = 'p',
  children,
}: {
  tone: 'good' | 'neutral' | 'bad';
  role: 'alert' | 'status';
  testId?: string;
  as?: 'p' | 'section';
  children: ComponentChildren;
}) {
  return (
    <Element class={`notice notice--${tone}`} role={role} data-testid={testId}>
      {children}
    </Element>
  );
}
