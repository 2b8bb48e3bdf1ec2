import { lkeConfig } from '../../lib/config';
import { LkeClient } from '../../lib/lke/client';
import type { Log } from '../../lib/log';
import type { Metrics } from '../../lib/metrics';
import type { TencentCredential } from '../../lib/tencent-credentials';
import { startSandbox, type Sandbox } from '../../sandbox/server';

export const SECRET_ID = 'AKIDsandboxTestId0001';
export const SECRET_KEY = 'sandbox-test-secret-key-0001';
export const SEED = { taskId: '8', taskType: 'ModifyAttributeLabel', botBizId: '1767024172536168448' };

export async function lkeSandbox(): Promise<Sandbox> {
  return startSandbox({ lke: { credentials: { [SECRET_ID]: { secretKey: SECRET_KEY } } } });
}

/** A real LkeClient (real SDK, real HTTP) pointed at the sandbox, with fast retries for tests. */
export function lkeClientFor(
  sandbox: Sandbox,
  options: {
    credential?: TencentCredential;
    env?: Record<string, string>;
    log?: Log;
    metrics?: Metrics;
  } = {},
): LkeClient {
  return new LkeClient({
    config: lkeConfig({
      LKE_ENDPOINT: sandbox.url,
      UPSTREAM_RETRY_BASE_MS: '1',
      UPSTREAM_RETRY_MAX_MS: '5',
      ...options.env,
    }),
    credentials: async () => options.credential ?? { secretId: SECRET_ID, secretKey: SECRET_KEY },
    log: options.log,
    metrics: options.metrics,
  });
}

/** The normalized answer for the seed task, exactly as the LKE issue documents it. */
export const SEED_ANSWER = {
  provider: 'lke',
  taskId: '8',
  taskType: 'ModifyAttributeLabel',
  botBizId: '1767024172536168448',
  status: 'succeeded',
  upstreamStatus: 'SUCCESS',
  message: '',
  result: { cosPath: '' },
  requestId: expect.stringMatching(/^[0-9a-f-]{36}$/),
  checkedAt: expect.stringMatching(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/),
};
