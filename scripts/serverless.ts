import { execFile } from 'node:child_process';
import { mkdtemp, readFile } from 'node:fs/promises';
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

/** Runs `serverless package --stage <stage>` into a fresh folder, the way a deploy would, and reads the template. */
export async function packageService(
  stage: string,
  extraEnv: Record<string, string> = {},
  extraArgs: string[] = [],
): Promise<Packaged> {
  const dir = await mkdtemp(join(tmpdir(), 'ttt-package-'));
  await run(
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
  );
  const template = JSON.parse(
    await readFile(join(dir, 'cloudformation-template-update-stack.json'), 'utf8'),
  ) as CloudFormationTemplate;
  return { dir, template };
}

export function resourcesOfType(template: CloudFormationTemplate, type: string) {
  return Object.entries(template.Resources).filter(([, resource]) => resource.Type === type);
}
