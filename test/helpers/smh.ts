import { smhConfig } from '../../lib/config';
import type { Log } from '../../lib/log';
import { SmhClient } from '../../lib/smh/client';
import { librarySecretProvider } from '../../lib/smh/secrets';
import { startSandbox, type Sandbox } from '../../sandbox/server';
import type { SmhSandboxTask } from '../../sandbox/smh';

export const LIB = 'smhlibalpha';
export const LIB_SECRET = 'alpha-library-secret-0001';
export const LIB2 = 'smhlibbeta';
export const LIB2_SECRET = 'beta-library-secret-0002';
export const MULTI = 'smhlibmulti';
export const MULTI_SECRET = 'multi-library-secret-0003';

/** A sandbox with a single-tenant library (LIB), a second one (LIB2) and a multi-tenant one (MULTI). */
export async function smhSandbox(): Promise<Sandbox> {
  return startSandbox({
    smh: {
      libraries: [
        { libraryId: LIB, secret: LIB_SECRET },
        { libraryId: LIB2, secret: LIB2_SECRET },
        { libraryId: MULTI, secret: MULTI_SECRET, spaces: ['space1', 'space2'] },
      ],
    },
  });
}

export function setTasks(sandbox: Sandbox, tasks: Partial<SmhSandboxTask>[]) {
  for (const task of tasks)
    sandbox.smh.setTask({ libraryId: LIB, spaceId: '-', taskId: '1', status: 202, ...task });
}

export interface SmhClientOptions {
  secrets?: Record<string, string>;
  env?: Record<string, string>;
  log?: Log;
  now?: () => number;
}

/** A real SmhClient (Node fetch over loopback) pointed at the sandbox, with fast retries for tests. */
export function smhClientFor(sandbox: Sandbox, options: SmhClientOptions = {}): SmhClient {
  const env = {
    SMH_BASE_URL: sandbox.url,
    UPSTREAM_RETRY_BASE_MS: '1',
    UPSTREAM_RETRY_MAX_MS: '5',
    SMH_LIBRARY_SECRETS: JSON.stringify(
      options.secrets ?? { [LIB]: LIB_SECRET, [LIB2]: LIB2_SECRET, [MULTI]: MULTI_SECRET },
    ),
    ...options.env,
  };
  return new SmhClient({
    config: smhConfig(env),
    secrets: librarySecretProvider(env, () => {
      throw new Error('no SSM in this test');
    }),
    log: options.log,
    now: options.now,
  });
}
