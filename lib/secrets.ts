import { SSMProvider } from '@aws-lambda-powertools/parameters/ssm';
import type { SSMClientConfig } from '@aws-sdk/client-ssm';
import { ConfigurationError } from './errors';

/**
 * Secrets on AWS live in SSM Parameter Store as SecureString parameters and are read at run time, never
 * resolved into the CloudFormation template. Values are cached per container (`maxAgeSeconds`, default 5
 * minutes) so a rotated secret is picked up without a redeploy, and a warm container makes no SSM call.
 *
 * Error messages name the parameter, never its value.
 */
export interface SecretStore {
  /** The parameter's decrypted value, or undefined when the parameter does not exist. */
  get(name: string): Promise<string | undefined>;
}

export class SsmSecretStore implements SecretStore {
  private readonly provider: SSMProvider;

  constructor(
    private readonly maxAgeSeconds = 300,
    clientConfig: SSMClientConfig = {},
  ) {
    this.provider = new SSMProvider({ clientConfig });
  }

  async get(name: string): Promise<string | undefined> {
    try {
      const value = await this.provider.get(name, {
        decrypt: true,
        maxAge: this.maxAgeSeconds,
        throwOnMissing: false,
      });
      return typeof value === 'string' ? value : undefined;
    } catch (error) {
      if ((error as { cause?: { name?: string } }).cause?.name === 'ParameterNotFound') return undefined;
      throw new ConfigurationError(
        `Could not read SSM parameter ${name}: ${(error as Error).message}`,
        'SecretUnavailable',
        500,
      );
    }
  }
}

/** Parses a JSON secret without ever echoing any part of it (JSON.parse messages quote the input). */
export function parseJsonSecret(text: string, name: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    throw new ConfigurationError(`Secret ${name} is not valid JSON`, 'SecretInvalid', 500);
  }
}
