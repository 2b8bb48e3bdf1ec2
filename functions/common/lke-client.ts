import { lkeConfig } from '../../lib/config';
import { LkeClient } from '../../lib/lke/client';
import { tencentCredentialProvider } from '../../lib/tencent-credentials';
import { once, secretStore } from './clients';
import { logger } from './logger';

/** The container's LKE client (one rate limiter per container). */
export const lkeClient = once(
  () =>
    new LkeClient({
      config: lkeConfig(process.env),
      credentials: tencentCredentialProvider(process.env, secretStore),
      log: logger,
    }),
);
