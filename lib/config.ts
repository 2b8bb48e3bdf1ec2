import { ConfigurationError } from './errors';
import type { RetryPolicy } from './retry';

/**
 * Configuration from the environment, read once per container. Every setting has a default that works
 * against Tencent's international site; a value that cannot be parsed fails the cold start with a message
 * naming the variable, rather than surfacing later as a confusing upstream error.
 */
export type Env = Record<string, string | undefined>;

export function intSetting(env: Env, name: string, fallback: number, min = 0, max = Number.MAX_SAFE_INTEGER) {
  const raw = env[name];
  if (raw === undefined || raw.trim() === '') return fallback;
  const value = Number(raw);
  if (!Number.isInteger(value) || value < min || value > max) {
    throw new ConfigurationError(`${name} must be an integer between ${min} and ${max}, got "${raw}"`);
  }
  return value;
}

/** An integer setting without a default here (the caller has one): undefined when unset. */
function optionalInt(env: Env, name: string, min: number, max: number): number | undefined {
  return env[name] === undefined || env[name].trim() === '' ? undefined : intSetting(env, name, 0, min, max);
}

export function numberSetting(env: Env, name: string, fallback: number, min = 0) {
  const raw = env[name];
  if (raw === undefined || raw.trim() === '') return fallback;
  const value = Number(raw);
  if (!Number.isFinite(value) || value < min) {
    throw new ConfigurationError(`${name} must be a number >= ${min}, got "${raw}"`);
  }
  return value;
}

export function stringSetting(env: Env, name: string, fallback: string): string {
  const raw = env[name]?.trim();
  return raw ? raw : fallback;
}

/** Accepts `https://host[:port]`, `http://host[:port]` or a bare host (https is assumed). */
export function parseEndpoint(name: string, raw: string): URL {
  const withScheme = /^[a-z][a-z0-9+.-]*:\/\//i.test(raw) ? raw : `https://${raw}`;
  let url: URL;
  try {
    url = new URL(withScheme);
  } catch {
    throw new ConfigurationError(`${name} must be a URL such as https://host or http://127.0.0.1:9000`);
  }
  if (url.protocol !== 'https:' && url.protocol !== 'http:') {
    throw new ConfigurationError(`${name} must use http or https`);
  }
  if (url.username || url.password || url.search || url.hash) {
    throw new ConfigurationError(`${name} must not contain credentials, a query or a fragment`);
  }
  return url;
}

export function retryPolicy(env: Env): RetryPolicy {
  return {
    maxAttempts: intSetting(env, 'UPSTREAM_MAX_ATTEMPTS', 4, 1, 10),
    baseDelayMs: intSetting(env, 'UPSTREAM_RETRY_BASE_MS', 200, 0, 60_000),
    maxDelayMs: intSetting(env, 'UPSTREAM_RETRY_MAX_MS', 3000, 0, 300_000),
  };
}

export interface LkeConfig {
  endpoint: URL;
  region: string;
  timeoutMs: number;
  rateLimitPerSecond: number;
  retry: RetryPolicy;
}

export const LKE_DEFAULT_ENDPOINT = 'https://lke.intl.tencentcloudapi.com';
export const LKE_INTL_HOST = 'lke.intl.tencentcloudapi.com';
export const LKE_CHINA_HOST = 'lke.tencentcloudapi.com';

/**
 * The region sent with each LKE call, which must go with the endpoint: Tencent's international site serves LKE
 * in `ap-jakarta` only; the China site (`lke.tencentcloudapi.com`) in mainland regions (`ap-guangzhou` when
 * LKE_REGION is unset); a regional host (`lke.<region>.tencentcloudapi.com`) in its own region. Any other
 * endpoint (a local stand-in) takes LKE_REGION, or `ap-jakarta`. A pair that cannot work is refused here, once,
 * with the fix, instead of failing every call with UnsupportedRegion.
 */
export function lkeRegion(endpoint: URL, configured: string | undefined): string {
  const host = endpoint.hostname.toLowerCase();
  const refuse = (why: string) =>
    new ConfigurationError(
      `LKE_REGION=${configured} cannot work with LKE_ENDPOINT ${endpoint.origin}: ${why}`,
    );
  if (host === LKE_INTL_HOST) {
    if (configured && configured !== 'ap-jakarta') {
      throw refuse(
        `the international site serves LKE in ap-jakarta only; unset LKE_REGION, or use https://${LKE_CHINA_HOST} for mainland regions`,
      );
    }
    return 'ap-jakarta';
  }
  if (host === LKE_CHINA_HOST) {
    if (configured === 'ap-jakarta') {
      throw refuse(
        `ap-jakarta is the international site's region; use https://${LKE_INTL_HOST}, or a mainland region such as ap-guangzhou`,
      );
    }
    return configured ?? 'ap-guangzhou';
  }
  const regional = /^lke\.([a-z]+-[a-z]+(?:-[0-9]+)?)\.tencentcloudapi\.com$/.exec(host)?.[1];
  if (regional) {
    if (configured && configured !== regional)
      throw refuse(`this host serves ${regional} only; unset LKE_REGION`);
    return regional;
  }
  return configured ?? 'ap-jakarta';
}

export function lkeConfig(env: Env = process.env): LkeConfig {
  const endpoint = parseEndpoint('LKE_ENDPOINT', stringSetting(env, 'LKE_ENDPOINT', LKE_DEFAULT_ENDPOINT));
  return {
    endpoint,
    region: lkeRegion(endpoint, env.LKE_REGION?.trim() || undefined),
    timeoutMs: intSetting(env, 'LKE_TIMEOUT_MS', 5000, 100, 60_000),
    rateLimitPerSecond: intSetting(env, 'LKE_RATE_LIMIT_PER_SECOND', 20, 1, 1000),
    retry: retryPolicy(env),
  };
}

export interface SmhConfig {
  baseUrl: URL;
  timeoutMs: number;
  /** Lifetime asked for each access token (SMH's minimum is 300 s). */
  tokenPeriodSeconds: number;
  /** `grant` for space-level tokens: empty is read-only, which is enough to query a space's tasks. */
  tokenGrant: string;
  /**
   * `grant` for library-level tokens (history-clearing tasks): they carry no space, which a multi-tenant library
   * accepts only from an admin token.
   */
  libraryTokenGrant: string;
  /** Task ids per upstream request, so URLs stay well under common 2 KiB limits. */
  maxIdsPerRequest: number;
  retry: RetryPolicy;
}

export const SMH_DEFAULT_BASE_URL = 'https://api.tencentsmh.cn';

export function smhConfig(env: Env = process.env): SmhConfig {
  const baseUrl = parseEndpoint('SMH_BASE_URL', stringSetting(env, 'SMH_BASE_URL', SMH_DEFAULT_BASE_URL));
  return {
    baseUrl,
    timeoutMs: intSetting(env, 'SMH_TIMEOUT_MS', 5000, 100, 60_000),
    tokenPeriodSeconds: intSetting(env, 'SMH_TOKEN_PERIOD_SECONDS', 3600, 300, 86_400 * 30),
    tokenGrant: env.SMH_TOKEN_GRANT?.trim() ?? '',
    libraryTokenGrant: env.SMH_LIBRARY_TOKEN_GRANT?.trim() ?? 'admin',
    maxIdsPerRequest: intSetting(env, 'SMH_MAX_IDS_PER_REQUEST', 100, 1, 100),
    retry: retryPolicy(env),
  };
}

export interface TrackingConfig {
  tableName: string;
  firstDelaySeconds: number;
  baseIntervalSeconds: number;
  backoffFactor: number;
  maxIntervalSeconds: number;
  maxAgeDays: number;
  retentionDays: number;
  /** Tasks claimed at a time and at most per run; unset, each provider's own (the checker's `runLimits`). */
  batchSize?: number;
  maxTasksPerRun?: number;
}

export function trackingConfig(env: Env = process.env): TrackingConfig {
  const tableName = env.TABLE_NAME?.trim();
  if (!tableName) throw new ConfigurationError('TABLE_NAME is not set: the tracking table name is required');
  return {
    tableName,
    firstDelaySeconds: intSetting(env, 'POLL_FIRST_DELAY_SECONDS', 30, 0, 86_400),
    baseIntervalSeconds: intSetting(env, 'POLL_BASE_INTERVAL_SECONDS', 60, 1, 86_400),
    backoffFactor: numberSetting(env, 'POLL_BACKOFF_FACTOR', 2, 1),
    maxIntervalSeconds: intSetting(env, 'POLL_MAX_INTERVAL_SECONDS', 900, 1, 86_400),
    maxAgeDays: numberSetting(env, 'POLL_MAX_AGE_DAYS', 30, 0),
    retentionDays: numberSetting(env, 'RETENTION_DAYS', 30, 0),
    batchSize: optionalInt(env, 'POLL_BATCH_SIZE', 1, 1000),
    maxTasksPerRun: optionalInt(env, 'POLL_MAX_TASKS_PER_RUN', 1, 100_000),
  };
}
