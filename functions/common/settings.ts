import { intSetting, lkeConfig, smhConfig, trackingConfig, type Env } from '../../lib/config';
import { ConfigurationError } from '../../lib/errors';
import { librarySecretProvider } from '../../lib/smh/secrets';
import { NO_CREDENTIALS_MESSAGE } from '../../lib/tencent-credentials';

/**
 * The settings each function needs, checked when its container starts serving (the first invocation), before
 * it does anything: a wrong or missing one answers that invocation, and every later one, with one message that
 * names it (`NotConfigured`), never a stack trace or an InternalError further down. Pure parsing: no SDK loads.
 */
export type SettingsCheck = (env: Env) => unknown;

const noSsm = () => {
  throw new Error('not read at check time');
};

export const LKE_SETTINGS: SettingsCheck[] = [
  lkeConfig,
  (env) => {
    const inline = env.TENCENTCLOUD_SECRET_ID?.trim() && env.TENCENTCLOUD_SECRET_KEY?.trim();
    if (!inline && !env.TENCENTCLOUD_SECRET_PARAMETER?.trim())
      throw new ConfigurationError(NO_CREDENTIALS_MESSAGE);
  },
];

export const SMH_SETTINGS: SettingsCheck[] = [
  smhConfig,
  (env) => librarySecretProvider(env, noSsm),
  (env) => {
    if (!env.SMH_LIBRARY_SECRETS?.trim() && !env.SMH_SECRET_PARAMETER_PREFIX?.trim()) {
      throw new ConfigurationError(
        'No SMH library is configured: set SMH_LIBRARY_SECRETS ({"<libraryId>":"<secret>"}) or ' +
          'SMH_SECRET_PARAMETER_PREFIX (one SSM SecureString per library)',
      );
    }
  },
];

export const TRACKING_SETTINGS: SettingsCheck[] = [
  trackingConfig,
  (env) => intSetting(env, 'SECRETS_CACHE_SECONDS', 300, 0, 86_400),
];

/** Runs the checks once per container; the outcome (passed, or its error) is kept. */
export function settingsCheck(...groups: SettingsCheck[][]): () => void {
  let outcome: { error?: unknown } | undefined;
  return () => {
    if (!outcome) {
      outcome = {};
      try {
        for (const check of groups.flat()) check(process.env);
      } catch (error) {
        outcome.error = error;
      }
    }
    if (outcome.error) throw outcome.error;
  };
}
