/** The sweeper's settings on a local stack: its state machines and the fakes of the APIs it asks and cleans up. */
import type { SweepSettings } from '../../lambdas/sweeper/sweep.ts';
import { LIFECYCLE_ASL_PATH } from '../../lib/metadata.ts';
import type { LocalStack } from '../../local/start.ts';

export function sweepSettingsOf(stack: LocalStack): SweepSettings {
  const { github, hetzner, tailscale } = stack.fakes;
  return {
    stateMachines: {
      provision: stack.stateMachineArn,
      lifecycle: stack.stateMachineArns[LIFECYCLE_ASL_PATH]!,
    },
    github: async () => ({
      apiUrl: github.url,
      repository: 'local/agent-infra',
      workflowFile: 'provision-agent.yml',
      token: github.token,
    }),
    hetzner: async () => ({ apiUrl: hetzner.url, token: hetzner.token }),
    tailscale: async () => ({ apiUrl: tailscale.url, tailnet: '-', token: tailscale.token }),
  };
}
