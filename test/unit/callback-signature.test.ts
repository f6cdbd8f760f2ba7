import { describe, expect, it } from 'vitest';
// The workflow's own signer: what the verifier must accept is what the workflow really sends.
import { signCallback } from '../../.github/scripts/callback.mjs';
import { CALLBACK_TOLERANCE_SECONDS, callbackSecrets, verifyCallbackSignature } from '../../lambdas/domain/callback-signature.ts';

const SECRET = 'current-secret';
const PREVIOUS_SECRET = 'previous-secret';
const NOW = new Date('2026-11-05T12:00:00Z');
const NOW_SECONDS = NOW.getTime() / 1000;
const BODY = '{"type":"heartbeat","job_id":"job_1"}';

function signed(overrides: { secret?: string; timestamp?: number; body?: string } = {}) {
  const headers = signCallback(overrides.secret ?? SECRET, overrides.body ?? BODY, overrides.timestamp ?? NOW_SECONDS);
  return { body: BODY, timestamp: headers['X-Callback-Timestamp'], signature: headers['X-Callback-Signature'] };
}

describe('verifyCallbackSignature', () => {
  it('accepts a callback signed with the secret within the window', () => {
    expect(verifyCallbackSignature(signed(), [SECRET], NOW)).toEqual({ ok: true });
  });

  it('verifies the bytes as received, also a Buffer body with multi-byte characters', () => {
    const text = '{"type":"heartbeat","job_id":"job_é"}';
    const body = Buffer.from(text, 'utf8');
    const { 'X-Callback-Timestamp': timestamp, 'X-Callback-Signature': signature } = signCallback(SECRET, text, NOW_SECONDS);
    expect(verifyCallbackSignature({ body, timestamp, signature }, [SECRET], NOW)).toEqual({ ok: true });
    expect(verifyCallbackSignature({ body: body.toString('latin1'), timestamp, signature }, [SECRET], NOW)).toEqual({
      ok: false,
      reason: 'invalid_signature',
    });
  });

  it.each([
    ['missing signature', { ...signed(), signature: undefined }],
    ['missing timestamp', { ...signed(), timestamp: undefined }],
    ['wrong secret', signed({ secret: 'someone-else' })],
    ['signature of another body', { ...signed({ body: '{"type":"heartbeat","job_id":"job_2"}' }), body: BODY }],
    ['truncated signature', { ...signed(), signature: signed().signature.slice(0, -2) }],
    ['non-hex signature', { ...signed(), signature: `sha256=${'z'.repeat(64)}` }],
    ['uppercase hex', { ...signed(), signature: `sha256=${signed().signature.slice(7).toUpperCase()}` }],
    ['no scheme prefix', { ...signed(), signature: signed().signature.slice(7) }],
    ['other scheme', { ...signed(), signature: signed().signature.replace('sha256=', 'sha1=') }],
    ['timestamp in another spelling', { ...signed(), timestamp: `0${NOW_SECONDS}` }],
    ['timestamp not a number', { ...signed(), timestamp: 'yesterday' }],
    ['signature for another timestamp', { ...signed({ timestamp: NOW_SECONDS - 1 }), timestamp: String(NOW_SECONDS) }],
  ])('rejects a %s as invalid_signature', (_name, callback) => {
    expect(verifyCallbackSignature(callback, [SECRET], NOW)).toEqual({ ok: false, reason: 'invalid_signature' });
  });

  it.each([
    ['in the past', -(CALLBACK_TOLERANCE_SECONDS + 1)],
    ['in the future', CALLBACK_TOLERANCE_SECONDS + 1],
  ])('rejects a correctly signed timestamp more than 300 s %s as stale_timestamp', (_name, offset) => {
    expect(verifyCallbackSignature(signed({ timestamp: NOW_SECONDS + offset }), [SECRET], NOW)).toEqual({
      ok: false,
      reason: 'stale_timestamp',
    });
  });

  it.each([-CALLBACK_TOLERANCE_SECONDS, CALLBACK_TOLERANCE_SECONDS])('accepts a timestamp exactly %i s away', (offset) => {
    expect(verifyCallbackSignature(signed({ timestamp: NOW_SECONDS + offset }), [SECRET], NOW)).toEqual({ ok: true });
  });

  it('says invalid_signature, not stale_timestamp, for a forged request with an old timestamp', () => {
    const forged = signed({ secret: 'forger', timestamp: NOW_SECONDS - 3600 });
    expect(verifyCallbackSignature(forged, [SECRET], NOW)).toEqual({ ok: false, reason: 'invalid_signature' });
  });

  it('accepts either secret during a rotation, and neither once it is removed', () => {
    const secrets = callbackSecrets(`${SECRET},${PREVIOUS_SECRET}`);
    expect(verifyCallbackSignature(signed({ secret: SECRET }), secrets, NOW)).toEqual({ ok: true });
    expect(verifyCallbackSignature(signed({ secret: PREVIOUS_SECRET }), secrets, NOW)).toEqual({ ok: true });
    expect(verifyCallbackSignature(signed({ secret: PREVIOUS_SECRET }), callbackSecrets(SECRET), NOW)).toEqual({
      ok: false,
      reason: 'invalid_signature',
    });
  });
});

describe('callbackSecrets', () => {
  it('splits a rotation pair on the comma and trims each secret', () => {
    expect(callbackSecrets(' new , old ')).toEqual(['new', 'old']);
  });

  it.each(['', ' ', ',', ' , '])('refuses a secret string without any secret (%j)', (value) => {
    expect(() => callbackSecrets(value)).toThrow('empty');
  });
});
