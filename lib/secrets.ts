import type { SSMProvider } from '@aws-lambda-powertools/parameters/ssm';
import type { SSMClientConfig } from '@aws-sdk/client-ssm';
import { ConfigurationError } from './errors';

/**
 * Secrets on AWS live in SSM Parameter Store as SecureString parameters and are read at run time, never
 * resolved into the CloudFormation template. Values are cached per container (`maxAgeSeconds`, default 5
 * minutes) so a rotated secret is picked up without a redeploy, and a warm container makes no SSM call.
 *
 * The SSM client (~60 ms to load) is loaded on first use, so a container whose credentials come from the
 * environment never pays for it.
 *
 * Error messages name the parameter, never its value.
 */
export interface SecretStore {
  /** The parameter's decrypted value, or undefined when the parameter does not exist. */
  get(name: string): Promise<string | undefined>;
}

export class SsmSecretStore implements SecretStore {
  private provider?: Promise<SSMProvider>;

  constructor(
    private readonly maxAgeSeconds = 300,
    private readonly clientConfig: SSMClientConfig = {},
  ) {}

  async get(name: string): Promise<string | undefined> {
    this.provider ??= import('@aws-lambda-powertools/parameters/ssm').then(
      ({ SSMProvider }) => new SSMProvider({ clientConfig: this.clientConfig }),
    );
    try {
      const value = await (
        await this.provider
      ).get(name, {
        decrypt: true,
        maxAge: this.maxAgeSeconds,
        throwOnMissing: false,
      });
      return typeof value === 'string' ? value : undefined;
    } catch (error) {
      if ((error as { cause?: { name?: string } }).cause?.name === 'ParameterNotFound') return undefined;
      // SSM's own text names account ids and role ARNs: it goes to the log (as the cause), never to a caller.
      const reason = (error as { cause?: Error }).cause?.name ?? (error as Error).name;
      throw new ConfigurationError(
        `Could not read SSM parameter ${name} (${reason}): check that it exists and that the ` +
          "function's role may read and decrypt it; the logs have SSM's answer",
        'SecretUnavailable',
        500,
        { cause: error },
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
