import { execFile } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { mkdtemp, readFile, rename, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';

const run = promisify(execFile);
export const ROOT = join(__dirname, '..');

/** Environment for offline serverless commands (tests, bench): no AWS or Tencent credentials, no network chatter. */
export function offlineEnv(extra: Record<string, string> = {}): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {
    ...process.env,
    SLS_TELEMETRY_DISABLED: '1',
    SLS_NOTIFICATIONS_MODE: 'off',
  };
  for (const key of Object.keys(env))
    if (key.startsWith('AWS_') || key.startsWith('TENCENTCLOUD_')) delete env[key];
  return { ...env, ...extra };
}

export interface Packaged {
  dir: string;
  template: CloudFormationTemplate;
}

export interface CloudFormationTemplate {
  Resources: Record<string, { Type: string; Properties: Record<string, unknown> }>;
  Outputs?: Record<string, unknown>;
}

/**
 * `serverless package` stages every build in the service's own `.serverless` folder, whatever `--package` says,
 * and removes that folder when it moves the build out: two packagings of this service at once (two in one test,
 * or two jest workers) delete each other's files (seen in CI: ENOENT .serverless/serverless-state.json). One at
 * a time, then: a lock folder beside serverless.yml, created whole (a folder holding its owner, renamed into
 * place: atomic), taken over only from an owner whose process is gone (renamed away: one waiter wins), and
 * removed only by its owner.
 */
export const PACKAGE_LOCK = join(ROOT, '.serverless-package.lock');

function alive(pid: number) {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === 'EPERM';
  }
}

const ownerOf = async (lock: string) => (await readFile(join(lock, 'owner'), 'utf8').catch(() => '')).trim();

export async function withPackageLock<T>(work: () => Promise<T>, lock = PACKAGE_LOCK): Promise<T> {
  const me = `${process.pid} ${randomUUID()}`;
  for (const started = Date.now(); ;) {
    const fresh = await mkdtemp(`${lock}.new-`);
    await writeFile(join(fresh, 'owner'), me);
    try {
      await rename(fresh, lock); // fails while a lock folder (never empty) is there
      break;
    } catch (error) {
      await rm(fresh, { recursive: true, force: true });
      if (!['ENOTEMPTY', 'EEXIST', 'EISDIR', 'EPERM'].includes((error as NodeJS.ErrnoException).code ?? ''))
        throw error;
    }
    const holder = await ownerOf(lock);
    const pid = Number(holder.split(' ')[0]);
    if (pid > 0 && !alive(pid)) {
      // Its owner died holding it: move it aside (one waiter wins the rename), then try again.
      const stale = `${lock}.stale-${randomUUID()}`;
      if (
        await rename(lock, stale).then(
          () => true,
          () => false,
        )
      )
        await rm(stale, { recursive: true, force: true });
      continue;
    }
    if (Date.now() - started > 10 * 60_000)
      throw new Error(`${lock} has been held for 10 minutes by ${holder}`);
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  try {
    return await work();
  } finally {
    if ((await ownerOf(lock)) === me) {
      const released = `${lock}.released-${randomUUID()}`;
      await rename(lock, released);
      await rm(released, { recursive: true, force: true });
    }
  }
}

/** Runs `serverless package --stage <stage>` into a fresh folder, the way a deploy would, and reads the template. */
export async function packageService(
  stage: string,
  extraEnv: Record<string, string> = {},
  extraArgs: string[] = [],
): Promise<Packaged> {
  const dir = await mkdtemp(join(tmpdir(), 'ttt-package-'));
  await withPackageLock(() =>
    run(
      process.execPath,
      [
        require.resolve('serverless/bin/serverless.js'),
        'package',
        '--stage',
        stage,
        '--package',
        dir,
        ...extraArgs,
      ],
      {
        cwd: ROOT,
        env: offlineEnv({ ESBUILD_WORK_FOLDER: `.esbuild-package-${stage}`, ...extraEnv }),
        maxBuffer: 16 * 1024 * 1024,
      },
    ).catch((error: Error & { stdout?: string; stderr?: string }) => {
      // serverless prints its error on stdout; execFile's message has only the command and stderr.
      error.message += `\n${error.stdout ?? ''}`;
      throw error;
    }),
  );
  const template = JSON.parse(
    await readFile(join(dir, 'cloudformation-template-update-stack.json'), 'utf8'),
  ) as CloudFormationTemplate;
  return { dir, template };
}

export function resourcesOfType(template: CloudFormationTemplate, type: string) {
  return Object.entries(template.Resources).filter(([, resource]) => resource.Type === type);
}
