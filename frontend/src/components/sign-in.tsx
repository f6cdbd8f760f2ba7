import { useState } from 'preact/hooks';
import { devSignIn } from '../auth/dev.ts';
import { beginCognitoSignIn } from '../auth/cognito.ts';
import { MAIN_ID, usePageHeading } from '../page.ts';
import { useServices } from '../services.ts';
import { Notice } from './notice.tsx';

/** Sign-in: the Cognito hosted UI in AWS, a "sign in as" form on the local runtime. */
export function SignIn({ error }: { error?: string | undefined }) {
  const { config } = useServices();
  const heading = usePageHeading('Sign in');
  return (
    <main class="sign-in" id={MAIN_ID} tabIndex={-1}>
      <h1 tabIndex={-1} ref={heading}>
        Agent dashboard
      </h1>
      {error === undefined ? null : (
        <Notice tone="bad" role="alert">
          {error}
        </Notice>
      )}
      {config.auth.dev === true ? (
        <DevSignIn />
      ) : (
        <button type="button" class="button button--primary" onClick={() => void beginCognitoSignIn(config.auth)}>
          Sign in
        </button>
      )}
    </main>
  );
}

function DevSignIn() {
  const { config, session } = useServices();
  const [userId, setUserId] = useState('');
  const [problem, setProblem] = useState<string>();
  const [busy, setBusy] = useState(false);

  const submit = async (event: Event): Promise<void> => {
    event.preventDefault();
    setBusy(true);
    setProblem(undefined);
    try {
      session.signIn(await devSignIn(config.auth.issuer, userId.trim()));
    } catch (error) {
      setProblem(error instanceof Error ? error.message : 'Sign-in failed');
      setBusy(false);
    }
  };

  return (
    <form class="card form" onSubmit={(event) => void submit(event)} data-testid="dev-sign-in">
      <p>Local runtime: sign in as any user.</p>
      <label for="user-id">User id</label>
      <input
        id="user-id"
        name="userId"
        required
        pattern="[A-Za-z0-9_\-]{1,64}"
        autoComplete="username"
        value={userId}
        onInput={(event) => setUserId(event.currentTarget.value)}
      />
      {problem === undefined ? null : (
        <p class="form__error" role="alert">
          {problem}
        </p>
      )}
      <button type="submit" class="button button--primary" disabled={busy}>
        Sign in as {userId.trim() || '…'}
      </button>
    </form>
  );
}
