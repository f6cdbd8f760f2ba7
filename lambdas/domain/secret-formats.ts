/**
 * The formats of the secrets the pipeline is configured with. A secret in another format cannot work (the workflow
 * could not sign with it, Stripe never signs with it), so `npm start` refuses it before serving anything and a
 * function that reads it answers as misconfigured instead of blaming each caller. The messages never hold a value.
 */
import { callbackSecrets, isWebhookSecret } from './callback-signature.ts';

export interface SecretFormat {
  /** What a valid value looks like, for the message that refuses one. */
  readonly description: string;
  matches(value: string): boolean;
}

/** The workflow's callback secret (docs/CONTRACT.md, "Callback signing"). */
export const CALLBACK_SECRET_FORMAT: SecretFormat = {
  description:
    '"whsec_" + base64 of 24 to 64 bytes (a Standard Webhooks secret; two separated by a comma while rotating)',
  matches: (value) => value.trim() !== '' && callbackSecrets(value).some(isWebhookSecret),
};

/** The signing secret Stripe shows for a webhook endpoint (and `stripe listen` prints). */
export const STRIPE_WEBHOOK_SECRET_FORMAT: SecretFormat = {
  description: '"whsec_" + letters and digits (the signing secret of the Stripe webhook endpoint)',
  matches: (value) => /^whsec_[A-Za-z0-9]+$/.test(value.trim()),
};
