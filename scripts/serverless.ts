import { execFile } from 'node:child_process';
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
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
 * a time, then: a lock folder beside serverless.yml, taken by mkdir (atomic), holding the owner's pid so that a
 * lock left by a killed process is taken over.
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

export async function withPackageLock<T>(work: () => Promise<T>, lock = PACKAGE_LOCK): Promise<T> {
  const owner = join(lock, 'pid');
  for (const started = Date.now(); ;) {
    try {
      await mkdir(lock);
      await writeFile(owner, String(process.pid));
      break;
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw error;
      const pid = Number(await readFile(owner, 'utf8').catch(() => ''));
      // A folder without a pid is being taken right now, unless it has been so for long (its owner died there).
      if ((pid > 0 && !alive(pid)) || (!pid && Date.now() - started > 30_000)) {
        await rm(lock, { recursive: true, force: true });
        continue;
      }
      if (Date.now() - started > 10 * 60_000)
        throw new Error(`${lock} has been held for 10 minutes by pid ${pid}`);
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
  }
  try {
    return await work();
  } finally {
    await rm(lock, { recursive: true, force: true });
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
