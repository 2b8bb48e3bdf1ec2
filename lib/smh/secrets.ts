import type { Env } from '../config';
import { ConfigurationError } from '../errors';
import { parseJsonSecret, type SecretStore } from '../secrets';

/** Resolves an SMH library's secret (the `library_secret` the token API wants). */
export type LibrarySecretProvider = (libraryId: string) => Promise<string>;

/**
 * Library secrets, several libraries at once:
 * - `SMH_LIBRARY_SECRETS`: a JSON object `{"<libraryId>":"<secret>", …}` (local runs);
 * - `SMH_SECRET_PARAMETER_PREFIX`: one SSM SecureString per library, `<prefix>/<libraryId>` (AWS), read on first
 *   use and cached by the store.
 * An unknown library is a 404 `LibraryNotConfigured` that says what to configure.
 */
export function librarySecretProvider(env: Env, secrets: () => SecretStore): LibrarySecretProvider {
  const inline = env.SMH_LIBRARY_SECRETS?.trim();
  const prefix = env.SMH_SECRET_PARAMETER_PREFIX?.trim().replace(/\/+$/, '');
  let table: Record<string, unknown> | undefined;
  if (inline) {
    const parsed = parseJsonSecret(inline, 'SMH_LIBRARY_SECRETS');
    if (parsed === null || typeof parsed !== 'object' || Array.isArray(parsed)) {
      throw new ConfigurationError('SMH_LIBRARY_SECRETS must be a JSON object: {"<libraryId>":"<secret>"}');
    }
    table = parsed as Record<string, unknown>;
  }
  const notConfigured = (libraryId: string) => {
    const where = [
      'add it to SMH_LIBRARY_SECRETS ({"<libraryId>":"<secret>"})',
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
    const value = table && Object.hasOwn(table, libraryId) ? table[libraryId] : undefined;
    if (typeof value === 'string' && value) return value;
    if (prefix) {
      const secret = await secrets().get(`${prefix}/${libraryId}`);
      if (secret) return secret.trim();
    }
    throw notConfigured(libraryId);
  };
}
