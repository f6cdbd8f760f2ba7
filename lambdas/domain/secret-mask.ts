/**
 * Masks secrets in log lines before anyone stores or sees them. The workflow masks its lines before sending
 * (`.github/scripts/log-lines.mjs`, plain JavaScript for GitHub's runner) and the callback function masks them again
 * before storing, with this module: both are held to the same cases by test/unit/secret-mask.test.ts, which runs one
 * vector table (test/unit/secret-mask-vectors.json) through each.
 *
 * Masked: Hetzner API tokens, Tailscale keys, GitHub tokens, Standard Webhooks and Stripe secrets, private keys
 * (PEM and OpenSSH, across lines), Authorization header values, and any secret value the caller names. Masking too
 * much costs a word of a log line; masking too little leaks a credential, so the patterns err wide.
 */

export const MASKED = '[masked]';

/** Patterns of secrets that can appear inside a line; each match becomes MASKED. */
const SECRET_PATTERNS: readonly RegExp[] = [
  // A whole private key on one line (an escaped multi-line value).
  /-----BEGIN [A-Z0-9 ]*PRIVATE KEY-----.*?(?:-----END [A-Z0-9 ]*PRIVATE KEY-----|$)/g,
  // GitHub: classic and app tokens, fine-grained personal access tokens.
  /\bgh[pousr]_[A-Za-z0-9]{30,}\b/g,
  /\bgithub_pat_[A-Za-z0-9_]{20,}/g,
  // Tailscale auth, API and OAuth client keys.
  /\btskey-[A-Za-z0-9-]{8,}/g,
  // Standard Webhooks (and Stripe webhook) signing secrets.
  /\bwhsec_[A-Za-z0-9+/=]{16,}/g,
  // Stripe secret and restricted keys.
  /\b[sr]k_(?:test|live)_[A-Za-z0-9]{16,}/g,
  // Hetzner Cloud API tokens: 64 letters and digits, mixed case (a sha256 digest is lowercase hex, and is kept).
  /\b(?=[A-Za-z0-9]*[A-Z])[A-Za-z0-9]{64}\b/g,
];

/** `Authorization: Bearer <token>` and its kin: the scheme stays, the credential goes. */
const AUTHORIZATION = /(authorization:\s*(?:bearer|token|basic)\s+)[^\s'"]+/gi;

const PRIVATE_KEY_BEGIN = /-----BEGIN [A-Z0-9 ]*PRIVATE KEY-----/;
const PRIVATE_KEY_END = /-----END [A-Z0-9 ]*PRIVATE KEY-----/;
/** A line of nothing but base64, as long as a key's body line (PEM 64, OpenSSH 70): masked even out of a key block. */
const BASE64_BODY_LINE = /^\s*[A-Za-z0-9+/]{60,}={0,2}\s*$/;

/** What masking carries from one batch of lines to the next: inside a private key block or not. */
export interface MaskState {
  readonly inPrivateKey: boolean;
}

export const INITIAL_MASK_STATE: MaskState = { inPrivateKey: false };

/** Secret values shorter than this are not masked by value: a short string would mask ordinary words. */
const MIN_KNOWN_SECRET_LENGTH = 8;

/** `line` with every secret it holds masked (`knownSecrets`: exact values to mask too, such as the caller's own). */
export function maskLine(line: string, knownSecrets: readonly string[] = []): string {
  let masked = line;
  for (const secret of knownSecrets) {
    if (secret.length >= MIN_KNOWN_SECRET_LENGTH) masked = masked.split(secret).join(MASKED);
  }
  for (const pattern of SECRET_PATTERNS) masked = masked.replace(pattern, MASKED);
  return masked.replace(AUTHORIZATION, `$1${MASKED}`);
}

/**
 * Masks a run of consecutive lines. A private key spread over lines is masked from its BEGIN line to its END line,
 * also when the block continues into the next run (`state`); a line that is only base64 is masked wherever it is.
 */
export function maskLines(
  lines: readonly string[],
  state: MaskState = INITIAL_MASK_STATE,
  knownSecrets: readonly string[] = [],
): { lines: string[]; state: MaskState } {
  let inPrivateKey = state.inPrivateKey;
  const masked = lines.map((line) => {
    if (inPrivateKey) {
      if (PRIVATE_KEY_END.test(line)) inPrivateKey = false;
      return MASKED;
    }
    if (PRIVATE_KEY_BEGIN.test(line) && !PRIVATE_KEY_END.test(line)) {
      inPrivateKey = true;
      return MASKED;
    }
    if (BASE64_BODY_LINE.test(line)) return MASKED;
    return maskLine(line, knownSecrets);
  });
  return { lines: masked, state: { inPrivateKey } };
}
