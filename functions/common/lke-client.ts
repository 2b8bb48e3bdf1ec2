import { lkeConfig } from '../../lib/config';
import { LkeClient } from '../../lib/lke/client';
import { SharedQuota } from '../../lib/lke/quota';
import { tencentCredentialProvider } from '../../lib/tencent-credentials';
import { once, secretStore } from './clients';
import { logger } from './logger';
import { containerMetrics } from './metrics';

/**
 * The container's LKE client: one in-container limiter, and the deployment-wide quota kept in the tracking
 * table (its DynamoDB client loads on the first call, not at cold start).
 */
export const lkeClient = once(() => {
  const config = lkeConfig(process.env);
  return new LkeClient({
    config,
    credentials: tencentCredentialProvider(process.env, secretStore),
    log: logger,
    metrics: containerMetrics('lke'),
    quota: new SharedQuota({
      table: async () => (await import('./store')).quotaTable(),
      limitPerSecond: config.rateLimitPerSecond,
      log: logger,
      metrics: containerMetrics('lke'),
    }),
  });
});
