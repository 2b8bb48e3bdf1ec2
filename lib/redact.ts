/**
 * Redaction, in one place: every error message the service builds passes through `redact()` (TrackerError's
 * constructor calls it), and so does every log line about an unexpected error. It removes:
 *
 * - signature material by its shape: `TC3-HMAC-SHA256 Credential=… SignedHeaders=… Signature=…`, any
 *   `Signature=`/`Credential=` pair, `Authorization:`/`X-TC-Token:` header text, and the values of
 *   `access_token`, `library_secret`, `secret_key` and `token` query or form fields;
 * - every secret the process has handled (Tencent SecretKeys and session tokens, SMH library secrets and access
 *   tokens: clients call `registerSecret` as they load or mint them), in every encoding a message could carry
 *   it in: raw, percent-encoded (either hex case), form-encoded, JSON-escaped, base64 and base64url.
 */
const MASK = '***';
/** The most recent secrets handled by this container (tokens rotate, so the set is bounded). */
const MAX_SECRETS = 512;
const secrets = new Set<string>();

/** Remembers a secret so that no message can carry it out. Values under 6 characters are ignored. */
export function registerSecret(value: string | undefined): void {
  if (!value || value.length < 6 || secrets.has(value)) return;
  secrets.add(value);
  if (secrets.size > MAX_SECRETS) secrets.delete(secrets.values().next().value as string);
}

const SHAPES: [RegExp, string][] = [
  // A whole TC3 Authorization value, however much of it was echoed.
  [/TC3-HMAC-SHA256\s+[^\r\n"']*/g, `TC3-HMAC-SHA256 ${MASK}`],
  [/\b(Signature|Credential)=[^\s,&;"']+/gi, `$1=${MASK}`],
  [/\b(Authorization|X-TC-Token)(["']?\s*[:=]\s*["']?)[^\r\n"',&]+/gi, `$1$2${MASK}`],
  [
    /\b(access_token|library_secret|librarySecret|accessToken|secret_?key|session_?token|token)((?:["']?\s*[:=]\s*["']?)|%3D)[^\s&,;"'}]+/gi,
    `$1$2${MASK}`,
  ],
];

function encodings(secret: string): string[] {
  const percent = encodeURIComponent(secret);
  const form = new URLSearchParams({ s: secret }).toString().slice(2);
  return [
    secret,
    percent,
    percent.replace(/%[0-9A-F]{2}/g, (hex) => hex.toLowerCase()),
    form,
    JSON.stringify(secret).slice(1, -1),
    Buffer.from(secret).toString('base64'),
    Buffer.from(secret).toString('base64url'),
  ];
}

/** `text` with every secret and every piece of signature material replaced by `***`. */
export function redact(text: string, extra: Iterable<string | undefined> = []): string {
  let out = text;
  for (const [pattern, replacement] of SHAPES) out = out.replace(pattern, replacement);
  for (const secret of [...secrets, ...extra]) {
    if (!secret || secret.length < 6) continue;
    for (const form of new Set(encodings(secret))) if (form) out = out.split(form).join(MASK);
  }
  return out;
}

/** A URL safe to log: SMH's `access_token` and `library_secret` query values replaced. */
export function redactUrl(url: string | URL): string {
  const parsed = new URL(String(url));
  for (const key of ['access_token', 'library_secret'])
    if (parsed.searchParams.has(key)) parsed.searchParams.set(key, 'REDACTED');
  return parsed.toString().replace(/REDACTED/g, MASK);
}
