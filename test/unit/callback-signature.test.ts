import { createHmac } from 'node:crypto';
import { Webhook } from 'standardwebhooks';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
// The workflow's own signer: what the verifier must accept is what the workflow really sends.
import { signCallback } from '../../.github/scripts/callback.mjs';
import {
  CALLBACK_TOLERANCE_SECONDS,
  callbackKeys,
  callbackSecrets,
  isWebhookSecret,
  verifyCallback,
  type CallbackHeaders,
} from '../../lambdas/domain/callback-signature.ts';

const SECRET = `whsec_${Buffer.alloc(32, 1).toString('base64')}`;
const PREVIOUS_SECRET = `whsec_${Buffer.alloc(32, 2).toString('base64')}`;
const NOW = new Date('2026-11-05T12:00:00Z');
const NOW_SECONDS = NOW.getTime() / 1000;
const ID = 'job_1:heartbeat:1';
const BODY = '{"type":"heartbeat","job_id":"job_1"}';
const V1 = { acceptLegacy: false };

/** Headers as the workflow signs them. */
function signed(overrides: { secret?: string; timestamp?: number; body?: string; id?: string } = {}): CallbackHeaders {
  const headers = signCallback(
    overrides.secret ?? SECRET,
    overrides.id ?? ID,
    overrides.body ?? BODY,
    overrides.timestamp ?? NOW_SECONDS,
  );
  return {
    webhookId: headers['webhook-id'],
    webhookTimestamp: headers['webhook-timestamp'],
    webhookSignature: headers['webhook-signature'],
  };
}

/** The scheme before Standard Webhooks: `sha256=<hex HMAC of "<timestamp>.<body>">`. */
function legacySigned(secret: string, body: string, timestamp: number): CallbackHeaders {
  const digest = createHmac('sha256', secret).update(`${timestamp}.${body}`).digest('hex');
  return { legacyTimestamp: String(timestamp), legacySignature: `sha256=${digest}` };
}

const verify = (headers: CallbackHeaders, options = V1, body: string | Uint8Array = BODY, secrets = SECRET) =>
  verifyCallback(typeof body === 'string' ? Buffer.from(body) : body, headers, callbackKeys(secrets), options);

// The library reads the clock itself.
beforeEach(() => {
  vi.useFakeTimers({ toFake: ['Date'] });
  vi.setSystemTime(NOW);
});
afterEach(() => {
  vi.useRealTimers();
});

describe('verifyCallback: Standard Webhooks v1', () => {
  it('accepts a callback signed by the workflow within the window, naming its webhook-id and signed time', () => {
    expect(verify(signed())).toEqual({ ok: true, scheme: 'v1', webhookId: ID, signedAt: NOW });
    expect(verify(signed({ timestamp: NOW_SECONDS - 42 }))).toMatchObject({
      signedAt: new Date(NOW.getTime() - 42_000),
    });
  });

  it('accepts a callback signed by the official library (Webhook.sign)', () => {
    const webhookSignature = new Webhook(SECRET).sign('msg_1', NOW, BODY);
    expect(verify({ webhookId: 'msg_1', webhookTimestamp: String(NOW_SECONDS), webhookSignature })).toEqual({
      ok: true,
      scheme: 'v1',
      webhookId: 'msg_1',
      signedAt: NOW,
    });
  });

  it("accepts the specification's test vector", () => {
    vi.setSystemTime(new Date(1_614_265_330 * 1000));
    const headers = {
      webhookId: 'msg_p5jXN8AQM9LWM0D4loKWxJek',
      webhookTimestamp: '1614265330',
      webhookSignature: 'v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=',
    };
    expect(verify(headers, V1, '{"test": 2432232314}', 'whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw')).toMatchObject({
      ok: true,
    });
    expect(verify(headers, V1, '{"test": 2432232315}', 'whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw')).toMatchObject({
      ok: false,
    });
  });

  it('verifies the bytes as received, also a body with multi-byte characters', () => {
    const text = '{"type":"heartbeat","job_id":"job_é"}';
    const headers = signed({ body: text });
    expect(verify(headers, V1, Buffer.from(text, 'utf8'))).toMatchObject({ ok: true });
    expect(verify(headers, V1, Buffer.from(text, 'latin1'))).toEqual({ ok: false, reason: 'invalid_signature' });
  });

  it.each([
    ['missing signature', { ...signed(), webhookSignature: undefined }],
    ['missing timestamp', { ...signed(), webhookTimestamp: undefined }],
    ['missing id', { ...signed(), webhookId: undefined }],
    ['wrong secret', signed({ secret: `whsec_${Buffer.alloc(32, 3).toString('base64')}` })],
    ['signature of another body', signed({ body: '{"type":"heartbeat","job_id":"job_2"}' })],
    ['signature of another id', { ...signed({ id: 'job_1:heartbeat:2' }), webhookId: ID }],
    [
      'signature for another timestamp',
      { ...signed({ timestamp: NOW_SECONDS - 1 }), webhookTimestamp: String(NOW_SECONDS) },
    ],
    ['truncated signature', { ...signed(), webhookSignature: signed().webhookSignature!.slice(0, -2) }],
    ['other version', { ...signed(), webhookSignature: signed().webhookSignature!.replace('v1,', 'v1a,') }],
    ['timestamp in another spelling', { ...signed(), webhookTimestamp: `0${NOW_SECONDS}` }],
    ['timestamp with a tail', { ...signed(), webhookTimestamp: `${NOW_SECONDS}abc` }],
    ['id with a space', { ...signed({ id: 'job 1' }) }],
    ['huge signature header', { ...signed(), webhookSignature: `${'v1,x '.repeat(300)}${signed().webhookSignature!}` }],
  ])('rejects a %s as invalid_signature', (_name, headers) => {
    expect(verify(headers)).toEqual({ ok: false, reason: 'invalid_signature' });
  });

  it.each([
    ['in the past', -(CALLBACK_TOLERANCE_SECONDS + 1)],
    ['in the future', CALLBACK_TOLERANCE_SECONDS + 1],
  ])('rejects a timestamp more than 300 s %s as stale_timestamp', (_name, offset) => {
    expect(verify(signed({ timestamp: NOW_SECONDS + offset }))).toEqual({ ok: false, reason: 'stale_timestamp' });
  });

  it.each([-CALLBACK_TOLERANCE_SECONDS, CALLBACK_TOLERANCE_SECONDS])(
    'accepts a timestamp exactly %i s away',
    (offset) => {
      expect(verify(signed({ timestamp: NOW_SECONDS + offset }))).toMatchObject({ ok: true });
    },
  );

  it('accepts either secret of a rotation, and a request signed with both; neither once it is removed', () => {
    const both = `${SECRET},${PREVIOUS_SECRET}`;
    expect(verify(signed({ secret: SECRET }), V1, BODY, both)).toMatchObject({ ok: true });
    expect(verify(signed({ secret: PREVIOUS_SECRET }), V1, BODY, both)).toMatchObject({ ok: true });
    expect(verify(signed({ secret: both }), V1, BODY, SECRET)).toMatchObject({ ok: true });
    expect(verify(signed({ secret: both }), V1, BODY, PREVIOUS_SECRET)).toMatchObject({ ok: true });
    expect(verify(signed({ secret: PREVIOUS_SECRET }), V1, BODY, SECRET)).toEqual({
      ok: false,
      reason: 'invalid_signature',
    });
  });
});

describe('verifyCallback: the legacy X-Callback-* headers', () => {
  const LEGACY_SECRET = 'a-pre-standard-secret-of-the-old-workflow';
  const withLegacy = { acceptLegacy: true };

  it('are refused while the setting is off (the default of new deployments)', () => {
    expect(verify(legacySigned(SECRET, BODY, NOW_SECONDS), V1)).toEqual({ ok: false, reason: 'invalid_signature' });
  });

  it('are accepted while it is on, with any secret of the secret string used as it is written', () => {
    const secrets = `${SECRET},${LEGACY_SECRET}`;
    expect(verify(legacySigned(LEGACY_SECRET, BODY, NOW_SECONDS), withLegacy, BODY, secrets)).toEqual({
      ok: true,
      scheme: 'legacy',
      signedAt: NOW,
    });
    expect(verify(legacySigned(SECRET, BODY, NOW_SECONDS), withLegacy, BODY, secrets)).toEqual({
      ok: true,
      scheme: 'legacy',
      signedAt: NOW,
    });
  });

  it('still check the signature, then the timestamp', () => {
    expect(verify(legacySigned('forger', BODY, NOW_SECONDS), withLegacy)).toEqual({
      ok: false,
      reason: 'invalid_signature',
    });
    expect(verify(legacySigned('forger', BODY, NOW_SECONDS - 3600), withLegacy)).toEqual({
      ok: false,
      reason: 'invalid_signature',
    });
    expect(verify(legacySigned(SECRET, BODY, NOW_SECONDS - 301), withLegacy)).toEqual({
      ok: false,
      reason: 'stale_timestamp',
    });
    expect(verify({ legacyTimestamp: String(NOW_SECONDS) }, withLegacy)).toEqual({
      ok: false,
      reason: 'invalid_signature',
    });
  });

  it('never rescue a request that carries a bad Standard Webhooks signature', () => {
    const headers = {
      ...legacySigned(SECRET, BODY, NOW_SECONDS),
      ...signed({ secret: `whsec_${Buffer.alloc(32, 3).toString('base64')}` }),
    };
    expect(verify(headers, withLegacy)).toEqual({ ok: false, reason: 'invalid_signature' });
  });
});

describe('callback secrets', () => {
  it('splits a rotation pair on the comma and trims each secret', () => {
    expect(callbackSecrets(' new , old ')).toEqual(['new', 'old']);
  });

  it.each(['', ' ', ',', ' , '])('refuses a secret string without any secret (%j)', (value) => {
    expect(() => callbackSecrets(value)).toThrow('empty');
  });

  it('knows a Standard Webhooks secret: whsec_ (optional) + base64 of 24 to 64 bytes', () => {
    expect(isWebhookSecret(SECRET)).toBe(true);
    expect(isWebhookSecret(SECRET.slice('whsec_'.length))).toBe(true);
    // What the stack generates: 64 letters and digits, 48 bytes as base64.
    expect(isWebhookSecret(`${'Ab3'.repeat(21)}x`)).toBe(true);
    expect(isWebhookSecret(`whsec_${Buffer.alloc(23).toString('base64')}`)).toBe(false);
    expect(isWebhookSecret(`whsec_${Buffer.alloc(65).toString('base64')}`)).toBe(false);
    expect(isWebhookSecret('whsec_')).toBe(false);
    expect(isWebhookSecret('not-base64-at-all!')).toBe(false);
  });

  it('refuses a secret string with no Standard Webhooks secret, without repeating it', () => {
    expect(() => callbackKeys('short-legacy-secret')).toThrow(/whsec_/);
    expect(() => callbackKeys('short-legacy-secret')).not.toThrow(/short-legacy-secret/);
  });
});
