import type { AgentView } from '../../../lambdas/domain/schemas.ts';

/**
 * What the owner is billed for this agent, on every status of its page: the API's billing summary
 * (lambdas/domain/billing-summary.ts), with the date of the next charge while there is one.
 */
export function BillingLine({ billing }: { billing: AgentView['billing'] }) {
  if (billing === undefined) return null;
  return (
    <p class="muted billing" data-testid="billing" data-billing={billing.state}>
      {billing.text}
      {billing.nextChargeAt === undefined ? null : (
        <>
          {' '}
          Next charge on{' '}
          <time dateTime={billing.nextChargeAt}>
            {new Date(billing.nextChargeAt).toLocaleDateString(undefined, { dateStyle: 'medium' })}
          </time>
          .
        </>
      )}
    </p>
  );
}
