import { smhConfig } from '../../lib/config';
import { SmhClient } from '../../lib/smh/client';
import { librarySecretProvider } from '../../lib/smh/secrets';
import { once, secretStore } from './clients';
import { logger } from './logger';
import { containerMetrics } from './metrics';

/** The container's SMH client (one access-token cache per container). */
export const smhClient = once(
  () =>
    new SmhClient({
      config: smhConfig(process.env),
      secrets: librarySecretProvider(process.env, secretStore),
      log: logger,
      metrics: containerMetrics('smh'),
    }),
);
