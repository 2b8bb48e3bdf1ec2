/**
 * `npm run sandbox`: the Tencent stand-in on its own, e.g. to test a configuration with real credentials:
 *
 *   SANDBOX_SECRET_ID=AKIDdemo SANDBOX_SECRET_KEY=demo-key npm run sandbox
 *   TENCENTCLOUD_SECRET_ID=AKIDdemo TENCENTCLOUD_SECRET_KEY=demo-key LKE_ENDPOINT=http://127.0.0.1:9100 npm start
 *
 * It also serves SMH's demo library (secret: SANDBOX_LIBRARY_SECRET or a made-up one, printed).
 * Without SANDBOX_SECRET_ID/KEY it makes up a pair and prints it.
 */
import { randomBytes } from 'node:crypto';
import { DEMO_LIBRARY_ID, seedDemoLibrary } from './demo';
import { startSandbox } from './server';

async function main() {
  const secretId = process.env.SANDBOX_SECRET_ID ?? `AKIDsandbox${randomBytes(6).toString('hex')}`;
  const secretKey = process.env.SANDBOX_SECRET_KEY ?? randomBytes(18).toString('base64url');
  const sandbox = await startSandbox({
    port: Number(process.env.SANDBOX_PORT ?? '9100'),
    lke: {
      credentials: { [secretId]: { secretKey } },
      latencyMs: Number(process.env.SANDBOX_LKE_LATENCY_MS ?? 0),
    },
  });
  const librarySecret = seedDemoLibrary(sandbox.smh, process.env.SANDBOX_LIBRARY_SECRET);
  console.log(
    [
      `Sandbox listening on ${sandbox.url}`,
      `  SMH: SMH_BASE_URL=${sandbox.url} SMH_LIBRARY_SECRETS='{"${DEMO_LIBRARY_ID}":"${librarySecret}"}'`,
      `  LKE (Cloud API v3, TC3-HMAC-SHA256): LKE_ENDPOINT=${sandbox.url}`,
      `  credentials it accepts: TENCENTCLOUD_SECRET_ID=${secretId} TENCENTCLOUD_SECRET_KEY=${secretKey}`,
      `  set a task: curl -X PUT ${sandbox.url}/_sandbox/lke/tasks -d '{"botBizId":"1767024172536168448","taskType":"ModifyAttributeLabel","taskId":"9","status":"RUNNING"}'`,
    ].join('\n'),
  );
  const stop = () => void sandbox.close().then(() => process.exit(0));
  process.on('SIGINT', stop);
  process.on('SIGTERM', stop);
}

main().catch((error: unknown) => {
  console.error(`sandbox failed to start: ${(error as Error).message}`);
  process.exit(1);
});
