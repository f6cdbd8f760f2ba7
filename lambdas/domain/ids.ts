/** Time-sortable ids (ULID alphabet), so items and executions sort by creation. */
const ALPHABET = '0123456789ABCDEFGHJKMNPQRSTVWXYZ';

function encode(value: number, length: number): string {
  let out = '';
  let rest = value;
  for (let i = 0; i < length; i++) {
    out = ALPHABET[rest % 32] + out;
    rest = Math.floor(rest / 32);
  }
  return out;
}

/** `<prefix>_<10 time chars><16 random chars>`, e.g. `job_01JD5V...`. Valid as a Step Functions execution name. */
export function newId(prefix: 'agent' | 'job' | 'act', now: Date = new Date()): string {
  const random = crypto.getRandomValues(new Uint8Array(16));
  const randomPart = Array.from(random, (byte) => ALPHABET[byte % 32]).join('');
  return `${prefix}_${encode(now.getTime(), 10)}${randomPart}`;
}
