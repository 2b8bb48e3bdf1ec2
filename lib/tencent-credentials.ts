import type { Env } from './config';
import { ConfigurationError } from './errors';
import { registerSecret } from './redact';
import { parseJsonSecret, type SecretStore } from './secrets';

/** Tencent Cloud API credentials (a SecretId/SecretKey pair, plus a token for temporary credentials). */
export interface TencentCredential {
  secretId: string;
  secretKey: string;
  token?: string;
}

export type CredentialProvider = () => Promise<TencentCredential>;

export const NO_CREDENTIALS_MESSAGE =
  'No Tencent Cloud credentials are configured: set TENCENTCLOUD_SECRET_ID and TENCENTCLOUD_SECRET_KEY ' +
  '(local runs) or TENCENTCLOUD_SECRET_PARAMETER, the name of an SSM SecureString holding ' +
  '{"secretId":"…","secretKey":"…"} (AWS)';

/**
 * Where credentials come from, in order:
 * 1. `TENCENTCLOUD_SECRET_ID` / `TENCENTCLOUD_SECRET_KEY` (/ `TENCENTCLOUD_SESSION_TOKEN`) in the environment;
 * 2. `TENCENTCLOUD_SECRET_PARAMETER`: an SSM SecureString with `{"secretId","secretKey","token"?}`, read on
 *    first use and cached by the store (so a rotation is picked up within its max age).
 * With neither, every call fails with a ConfigurationError that says what to set.
 */
export function tencentCredentialProvider(env: Env, secrets: () => SecretStore): CredentialProvider {
  const secretId = env.TENCENTCLOUD_SECRET_ID?.trim();
  const secretKey = env.TENCENTCLOUD_SECRET_KEY?.trim();
  if (secretId && secretKey) {
    const credential: TencentCredential = { secretId, secretKey };
    const token = env.TENCENTCLOUD_SESSION_TOKEN?.trim();
    if (token) credential.token = token;
    registerSecret(secretKey);
    registerSecret(token);
    return async () => credential;
  }
  const parameter = env.TENCENTCLOUD_SECRET_PARAMETER?.trim();
  if (parameter) {
    return async () => {
      const text = await secrets().get(parameter);
      if (text === undefined) {
        throw new ConfigurationError(
          `SSM parameter ${parameter} (TENCENTCLOUD_SECRET_PARAMETER) does not exist: create it as a SecureString ` +
            'holding {"secretId":"…","secretKey":"…"}',
        );
      }
      const credential = toCredential(parseJsonSecret(text, parameter), parameter);
      registerSecret(credential.secretKey);
      registerSecret(credential.token);
      return credential;
    };
  }
  return async () => {
    throw new ConfigurationError(NO_CREDENTIALS_MESSAGE);
  };
}

function toCredential(value: unknown, name: string): TencentCredential {
  const record = (value ?? {}) as Record<string, unknown>;
  const { secretId, secretKey, token } = record;
  if (typeof secretId !== 'string' || typeof secretKey !== 'string' || !secretId || !secretKey) {
    throw new ConfigurationError(`Secret ${name} must hold {"secretId":"…","secretKey":"…"} (strings)`);
  }
  return typeof token === 'string' && token ? { secretId, secretKey, token } : { secretId, secretKey };
}
