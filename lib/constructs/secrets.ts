import { CfnOutput, Validations } from 'aws-cdk-lib';
import { type CfnSecret, Secret } from 'aws-cdk-lib/aws-secretsmanager';
import { Construct } from 'constructs';

/**
 * The stack output naming each secret's ARN (what `aws secretsmanager put-secret-value --secret-id` takes), by the
 * property that holds the secret. The README's deploy section lists them.
 */
export const SECRET_OUTPUTS = {
  stripeWebhookSecret: 'StripeWebhookSecretArn',
  stripeSecretKey: 'StripeSecretKeyArn',
  callbackSecret: 'CallbackSecretArn',
  githubToken: 'GitHubTokenSecretArn',
  hetznerToken: 'HetznerTokenSecretArn',
  tailscaleToken: 'TailscaleTokenSecretArn',
} as const;

/**
 * The pipeline's secrets. Only the callback HMAC secret is ours to invent; the others are issued by Stripe, GitHub,
 * Hetzner and Tailscale and are set after deploy (`aws secretsmanager put-secret-value`). Until then they hold a
 * random value, so every call that needs them fails closed. Each secret's ARN is a stack output
 * ({@link SECRET_OUTPUTS}), so the operator finds what to fill in.
 */
export class Secrets extends Construct {
  /** Stripe webhook signing secret (`whsec_...`). */
  public readonly stripeWebhookSecret: Secret;
  /** Stripe secret API key (`sk_...`). */
  public readonly stripeSecretKey: Secret;
  /** Standard Webhooks secret of the workflow callbacks; may hold two comma-separated secrets during rotation. */
  public readonly callbackSecret: Secret;
  /** GitHub token allowed to dispatch the provisioning workflow. */
  public readonly githubToken: Secret;
  /** Hetzner Cloud API token. */
  public readonly hetznerToken: Secret;
  /** Tailscale API token. */
  public readonly tailscaleToken: Secret;

  constructor(scope: Construct, id: string) {
    super(scope, id);

    const external = (secretId: string, description: string) => {
      const secret = new Secret(this, secretId, { description });
      Validations.of(secret).acknowledge({
        id: 'AwsSolutions-SMG4',
        reason:
          'Issued by a third party, which has no rotation API Secrets Manager can call; rotated at the issuer, then put here.',
      });
      return secret;
    };

    this.stripeWebhookSecret = external('StripeWebhookSecret', 'Stripe webhook signing secret (set after deploy)');
    this.stripeSecretKey = external('StripeSecretKey', 'Stripe secret API key (set after deploy)');
    this.githubToken = external(
      'GitHubToken',
      'GitHub token that dispatches the provisioning workflow (set after deploy)',
    );
    this.hetznerToken = external('HetznerToken', 'Hetzner Cloud API token (set after deploy)');
    this.tailscaleToken = external('TailscaleToken', 'Tailscale API token (set after deploy)');
    this.callbackSecret = new Secret(this, 'CallbackSecret', {
      description: 'Standard Webhooks secret the provisioning workflow signs its callbacks with',
      // Letters and digits only, 64 of them: valid base64 of 48 bytes, which is how Standard Webhooks reads a secret
      // without its whsec_ prefix; and no comma, which separates the old and new secret during rotation.
      generateSecretString: { passwordLength: 64, excludePunctuation: true },
    });
    Validations.of(this.callbackSecret).acknowledge({
      id: 'AwsSolutions-SMG4',
      reason:
        'Shared with the workflow repository, so rotation is a two-sided manual procedure (SECURITY.md): both sides hold "new,old" for a while, the workflow signing with both and the handler accepting either.',
    });

    for (const [property, outputName] of Object.entries(SECRET_OUTPUTS) as [keyof typeof SECRET_OUTPUTS, string][]) {
      const secret = this[property];
      const output = new CfnOutput(this, outputName, {
        value: secret.secretArn,
        description: `Secrets Manager secret: ${(secret.node.defaultChild as CfnSecret).description}`,
      });
      // Named as the README names it, not with the construct path's hash.
      output.overrideLogicalId(outputName);
    }
  }
}
