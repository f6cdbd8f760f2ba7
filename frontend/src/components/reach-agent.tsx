import { useState } from 'preact/hooks';

/**
 * How to reach a running agent (#24.5): over the tailnet, with a command to copy. Its address is a Tailscale one, so
 * the command works from any device of the tailnet.
 */
export function ReachAgent({ tailscaleIp }: { tailscaleIp: string }) {
  const command = `ssh root@${tailscaleIp}`;
  const [copied, setCopied] = useState(false);
  return (
    <div data-testid="reach">
      <p>From a device on your tailnet:</p>
      <p>
        <code data-testid="reach-command">{command}</code>{' '}
        <button
          type="button"
          class="button"
          data-testid="copy-command"
          onClick={() =>
            void navigator.clipboard
              ?.writeText(command)
              .then(() => setCopied(true))
              .catch(() => setCopied(false))
          }
        >
          {copied ? 'Copied' : 'Copy'}
        </button>
      </p>
    </div>
  );
}
