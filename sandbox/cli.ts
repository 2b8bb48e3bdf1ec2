/**
 * `npm run sandbox`: the Tencent stand-in on its own, e.g. to test a configuration with real credentials:
 *
 *   SANDBOX_SECRET_ID=AKIDdemo SANDBOX_SECRET_KEY=demo-key npm run sandbox
 *   TENCENTCLOUD_SECRET_ID=AKIDdemo TENCENTCLOUD_SECRET_KEY=demo-key LKE_ENDPOINT=http://127.0.0.1:9100 npm start
 *
 * It also serves SMH's demo library (secret: SANDBOX_LIBRARY_SECRET or a made-up one, printed).
 * Without SANDBOX_SECRET_ID/KEY it makes up a pair and prints it.
 * Tasks and libraries are kept in $DATA_DIR/sandbox.json (.data/sandbox.json, as under `npm start`): written on
 * every change and on exit, read at start. Credentials, tokens and faults are per run.
 */
import { randomBytes } from 'node:crypto';
import { existsSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { DEMO_LIBRARY_ID, seedDemoLibrary } from './demo';
import { startSandbox } from './server';

async function main() {
  const secretId = process.env.SANDBOX_SECRET_ID ?? `AKIDsandbox${randomBytes(6).toString('hex')}`;
  const secretKey = process.env.SANDBOX_SECRET_KEY ?? randomBytes(18).toString('base64url');
  const statePath = join(resolve(process.env.DATA_DIR ?? join(__dirname, '..', '.data')), 'sandbox.json');
  const restored = existsSync(statePath);
  const sandbox = await startSandbox({
    port: Number(process.env.SANDBOX_PORT ?? '9100'),
    lke: {
      credentials: { [secretId]: { secretKey } },
      latencyMs: Number(process.env.SANDBOX_LKE_LATENCY_MS ?? 0),
    },
    statePath,
  });
  const librarySecret = seedDemoLibrary(sandbox.smh, process.env.SANDBOX_LIBRARY_SECRET);
  sandbox.save();
  const { tasks: smhTasks, libraries } = sandbox.smh.snapshot();
  console.log(
    [
      `Sandbox listening on ${sandbox.url}`,
      `  SMH: SMH_BASE_URL=${sandbox.url} SMH_LIBRARY_SECRETS='{"${DEMO_LIBRARY_ID}":"${librarySecret}"}'`,
      `  LKE (Cloud API v3, TC3-HMAC-SHA256): LKE_ENDPOINT=${sandbox.url}`,
      `  credentials it accepts: TENCENTCLOUD_SECRET_ID=${secretId} TENCENTCLOUD_SECRET_KEY=${secretKey}`,
      `  set a task: curl -X PUT ${sandbox.url}/_sandbox/lke/tasks -d '{"botBizId":"1767024172536168448","taskType":"ModifyAttributeLabel","taskId":"9","status":"RUNNING"}'`,
      `  state: ${statePath} (${
        restored
          ? `restored: ${sandbox.lke.listTasks().length} LKE tasks, ${smhTasks.length} SMH tasks in ${libraries.length} libraries`
          : 'new'
      }), kept across restarts; delete it to start afresh`,
    ].join('\n'),
  );
  let stopping = false;
  const stop = (signal: NodeJS.Signals) => {
    if (stopping) return;
    stopping = true;
    sandbox.close().then(
      () => {
        console.log(`\nSandbox stopped (${signal}). Its tasks and libraries stay in ${statePath}.`);
        process.exit(0);
      },
      (error: unknown) => {
        console.error(
          `\nSandbox stopped (${signal}), but its state was not saved: ${(error as Error).message}`,
        );
        process.exit(1);
      },
    );
  };
  process.on('SIGINT', stop);
  process.on('SIGTERM', stop);
}

main().catch((error: unknown) => {
  console.error(`sandbox failed to start: ${(error as Error).message}`);
  process.exit(1);
});
