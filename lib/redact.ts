/**
 * Redaction for anything that may be logged or returned. SMH sends its access token in the query string and
 * takes the library secret the same way when minting one: both are replaced before a URL leaves a client.
 */
const SECRET_QUERY_KEYS = ['access_token', 'library_secret'];

export function redactUrl(url: string | URL): string {
  const parsed = new URL(String(url));
  for (const key of SECRET_QUERY_KEYS)
    if (parsed.searchParams.has(key)) parsed.searchParams.set(key, 'REDACTED');
  return parsed.toString().replace(/REDACTED/g, '***');
}

/** Removes every occurrence of the given secrets from a text (e.g. an upstream error message echoing a token). */
export function redactText(text: string, secrets: Iterable<string | undefined>): string {
  let out = text;
  for (const secret of secrets) if (secret && secret.length >= 4) out = out.split(secret).join('***');
  return out;
}
