import { useEffect, useState } from 'preact/hooks';
import { MAIN_ID } from '../page.ts';
import { useRoute, type CheckoutReturn } from '../router.ts';
import { useServices } from '../services.ts';
import { AgentPage } from './agent-page.tsx';
import { AgentsPage } from './agents-page.tsx';
import { ConnectionIndicator } from './connection-indicator.tsx';
import { OperationsPage } from './operations-page.tsx';
import { SignIn } from './sign-in.tsx';

/** The signed-in shell (top bar + page), or the sign-in page. */
export function App({
  signInError,
  checkout,
}: {
  signInError?: string | undefined;
  checkout?: CheckoutReturn | undefined;
}) {
  const { session } = useServices();
  const [current, setCurrent] = useState(session.current);
  useEffect(() => session.subscribe(setCurrent), [session]);
  const route = useRoute();

  if (current === undefined) return <SignIn error={signInError} />;
  // What the page offers; the API enforces the same groups from the verified token.
  const isOperator = current.groups.includes('operators');
  const isStaff = isOperator || current.groups.includes('support');
  return (
    <>
      {/* A fragment link would be taken for a route: the skip link moves the focus itself. */}
      <a
        href={`#${MAIN_ID}`}
        class="skip-link"
        onClick={(event) => {
          event.preventDefault();
          document.getElementById(MAIN_ID)?.focus();
        }}
      >
        Skip to content
      </a>
      <header class="topbar">
        <a href="#/" class="topbar__brand">
          Agents
        </a>
        {isStaff && (
          <a href="#/operations" class="topbar__link" data-testid="operations-link">
            Operations
          </a>
        )}
        <ConnectionIndicator />
        <span class="topbar__user" data-testid="user">
          {current.userId}
        </span>
        <button type="button" class="button button--quiet" onClick={() => session.signOut()}>
          Sign out
        </button>
      </header>
      {route.page === 'operations' && isStaff ? (
        <OperationsPage />
      ) : route.page === 'agent' ? (
        <AgentPage
          key={route.agentId}
          agentId={route.agentId}
          checkout={checkout?.agentId === route.agentId ? checkout.outcome : undefined}
          staff={isStaff}
        />
      ) : (
        <AgentsPage />
      )}
    </>
  );
}
