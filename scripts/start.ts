/**
 * `npm start`: the whole service on this machine, stage `local`, under serverless-offline.
 *
 * - HTTP API on http://localhost:$PORT (3000), Lambda invoke endpoint on $LAMBDA_PORT (3002).
 * - With no Tencent credentials in the environment it starts the sandbox (a local LKE that checks TC3
 *   signatures) on $SANDBOX_PORT (9100) and points the functions at it: "sandbox mode".
 *   With TENCENTCLOUD_SECRET_ID/TENCENTCLOUD_SECRET_KEY set it talks to $LKE_ENDPOINT (default: Tencent).
 */
import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { startSandbox, type Sandbox } from '../sandbox/server';

const env = { ...process.env };
const port = env.PORT ?? '3000';
const lambdaPort = env.LAMBDA_PORT ?? '3002';
const sandboxPort = Number(env.SANDBOX_PORT ?? '9100');

async function main() {
  let sandbox: Sandbox | undefined;
  const lines: string[] = [];
  const useSandboxForLke = !(env.TENCENTCLOUD_SECRET_ID && env.TENCENTCLOUD_SECRET_KEY);

  if (useSandboxForLke) {
    const secretId = `AKIDsandbox${randomBytes(6).toString('hex')}`;
    const secretKey = randomBytes(18).toString('base64url');
    sandbox = await startSandbox({ port: sandboxPort, lke: { credentials: { [secretId]: { secretKey } } } });
    Object.assign(env, {
      TENCENTCLOUD_SECRET_ID: secretId,
      TENCENTCLOUD_SECRET_KEY: secretKey,
      LKE_ENDPOINT: sandbox.url,
    });
    delete env.TENCENTCLOUD_SESSION_TOKEN;
    lines.push(
      `SANDBOX MODE: no Tencent credentials in the environment, so LKE calls go to the local sandbox at ${sandbox.url}`,
      '  (it verifies TC3 signatures with a per-run key; set TENCENTCLOUD_SECRET_ID/KEY to use a real endpoint)',
      '  seeded task: TaskId 8, TaskType ModifyAttributeLabel, BotBizId 1767024172536168448, SUCCESS',
      `  change a task: curl -X PUT ${sandbox.url}/_sandbox/lke/tasks -d '{"botBizId":"1767024172536168448","taskType":"ModifyAttributeLabel","taskId":"9","status":"RUNNING"}'`,
    );
  } else {
    lines.push(
      `LKE: using your credentials against ${env.LKE_ENDPOINT ?? 'https://lke.intl.tencentcloudapi.com'}`,
    );
  }
  lines.push(
    `HTTP API: http://localhost:${port}   Lambda invoke endpoint: http://localhost:${lambdaPort}`,
    `  try: curl 'http://localhost:${port}/lke/tasks/8?botBizId=1767024172536168448&taskType=ModifyAttributeLabel'`,
  );
  console.log(lines.join('\n'));

  const serverless = require.resolve('serverless/bin/serverless.js');
  const child = spawn(
    process.execPath,
    [
      serverless,
      'offline',
      'start',
      '--stage',
      'local',
      '--httpPort',
      port,
      '--lambdaPort',
      lambdaPort,
      // Pass this process's environment (credentials, endpoints) to the functions, for the local stage only.
      '--localEnvironment',
    ],
    { env: { ...env, SLS_TELEMETRY_DISABLED: '1', SLS_NOTIFICATIONS_MODE: 'off' }, stdio: 'inherit' },
  );

  const stop = (signal: NodeJS.Signals) => child.kill(signal);
  process.on('SIGINT', stop);
  process.on('SIGTERM', stop);
  child.on('exit', async (code, signal) => {
    await sandbox?.close();
    process.exit(code ?? (signal ? 0 : 1));
  });
}

main().catch((error: unknown) => {
  console.error(`npm start failed: ${(error as Error).message}`);
  process.exit(1);
});
