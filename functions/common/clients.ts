import { intSetting } from '../../lib/config';
import { SsmSecretStore } from '../../lib/secrets';

/**
 * Clients are built once per container and reused by every invocation. Each is built on first use rather than
 * at import, so a configuration mistake becomes a JSON error that names the variable instead of an init crash.
 * Each upstream has its own module (lke-client.ts, smh-client.ts) so a function bundles only the SDK it uses.
 * Handlers take these as defaulted parameters; tests pass their own.
 */
export function once<T>(build: () => T): () => T {
  let value: T | undefined;
  let built = false;
  return () => {
    if (!built) {
      value = build();
      built = true;
    }
    return value as T;
  };
}

export const secretStore = once(
  () => new SsmSecretStore(intSetting(process.env, 'SECRETS_CACHE_SECONDS', 300, 0, 86_400)),
);
