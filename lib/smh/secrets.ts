import { parseEndpoint, type Env } from '../config';
import { ConfigurationError } from '../errors';
import { registerSecret } from '../redact';
import { parseJsonSecret, type SecretStore } from '../secrets';

/** How to reach one SMH library: its secret (the `library_secret` the token API wants) and, optionally, its host. */
export interface LibraryAccess {
  secret: string;
  /** The library's own host (`https://<libraryId>.api.tencentsmh.cn`, …); SMH_BASE_URL when absent. */
  baseUrl?: URL;
}

export type LibrarySecretProvider = (libraryId: string) => Promise<LibraryAccess>;

const SHAPE = '"<secret>" or {"secret":"<secret>","baseUrl":"https://<host>"}';

/**
 * One library's access from its configured value: a secret string, or an object with the secret and the
 * library's own host. `where` names the setting in error messages (never the value).
 */
export function parseLibraryAccess(value: unknown, where: string): LibraryAccess {
  if (typeof value === 'string' && value.trim()) return { secret: value.trim() };
  if (value !== null && typeof value === 'object' && !Array.isArray(value)) {
    const { secret, baseUrl, ...rest } = value as Record<string, unknown>;
    const unknown = Object.keys(rest);
    if (unknown.length > 0)
      throw new ConfigurationError(`${where} has unknown fields (${unknown.join(', ')}): use ${SHAPE}`);
    if (typeof secret !== 'string' || !secret.trim())
      throw new ConfigurationError(`${where} needs a "secret" string: ${SHAPE}`);
    if (baseUrl === undefined) return { secret: secret.trim() };
    if (typeof baseUrl !== 'string') throw new ConfigurationError(`${where}.baseUrl must be a URL string`);
    return { secret: secret.trim(), baseUrl: parseEndpoint(`${where}.baseUrl`, baseUrl.trim()) };
  }
  throw new ConfigurationError(`${where} must be ${SHAPE}`);
}

/**
 * Library secrets (and hosts), several libraries at once:
 * - `SMH_LIBRARY_SECRETS`: a JSON object `{"<libraryId>": <access>, …}` (local runs), checked at cold start;
 * - `SMH_SECRET_PARAMETER_PREFIX`: one SSM SecureString per library, `<prefix>/<libraryId>` (AWS), holding the
 *   secret, or the same JSON object as above when the library has its own host; read on first use and cached.
 * An unknown library is a 404 `LibraryNotConfigured` that says what to configure.
 */
export function librarySecretProvider(env: Env, secrets: () => SecretStore): LibrarySecretProvider {
  const inline = env.SMH_LIBRARY_SECRETS?.trim();
  const prefix = env.SMH_SECRET_PARAMETER_PREFIX?.trim().replace(/\/+$/, '');
  const table = new Map<string, LibraryAccess>();
  if (inline) {
    const parsed = parseJsonSecret(inline, 'SMH_LIBRARY_SECRETS');
    if (parsed === null || typeof parsed !== 'object' || Array.isArray(parsed)) {
      throw new ConfigurationError(`SMH_LIBRARY_SECRETS must be a JSON object: {"<libraryId>": ${SHAPE}}`);
    }
    for (const [libraryId, value] of Object.entries(parsed)) {
      const access = parseLibraryAccess(value, `SMH_LIBRARY_SECRETS["${libraryId}"]`);
      registerSecret(access.secret);
      table.set(libraryId, access);
    }
  }
  const notConfigured = (libraryId: string) => {
    const where = [
      `add it to SMH_LIBRARY_SECRETS ({"<libraryId>": ${SHAPE}})`,
      prefix ? `create the SSM SecureString ${prefix}/${libraryId}` : undefined,
    ]
      .filter(Boolean)
      .join(' or ');
    return new ConfigurationError(
      `No secret is configured for SMH library ${libraryId}: ${where}`,
      'LibraryNotConfigured',
      404,
    );
  };

  return async (libraryId) => {
    const known = table.get(libraryId);
    if (known) return known;
    if (prefix) {
      const name = `${prefix}/${libraryId}`;
      const text = (await secrets().get(name))?.trim();
      if (text) {
        const access = parseLibraryAccess(text.startsWith('{') ? parseJsonSecret(text, name) : text, name);
        registerSecret(access.secret);
        return access;
      }
    }
    throw notConfigured(libraryId);
  };
}
