/**
 * `npm start`: the whole service on this machine, stage `local`, under serverless-offline.
 *
 * - HTTP API on http://localhost:$PORT (3000), Lambda invoke endpoint on $LAMBDA_PORT (3002).
 * - LKE: with no TENCENTCLOUD_SECRET_ID/KEY in the environment, calls go to the sandbox (a local LKE that checks
 *   TC3 signatures); with them, to $LKE_ENDPOINT (default: Tencent's international site).
 * - SMH: with no SMH_LIBRARY_SECRETS, calls go to the sandbox's demo library; with it, to $SMH_BASE_URL.
 * The sandbox listens on $SANDBOX_PORT (9100) when either API uses it, and the first lines say so.
 * - Tracking: an embedded DynamoDB (dynalite) on $DYNAMODB_PORT (8000) keeps its data under .data/ so it
 *   survives a restart; the pollers run on their schedule and can be invoked on the Lambda endpoint.
 * - Hand-over: notifications go to a local sink (.data/notifications.jsonl and a log line each) unless an AWS
 *   endpoint is set the way the AWS SDKs read it (AWS_ENDPOINT_URL_EVENTBRIDGE, AWS_ENDPOINT_URL_SFN,
 *   AWS_ENDPOINT_URL; or the older EVENTBRIDGE_ENDPOINT / STEPFUNCTIONS_ENDPOINT).
 */
import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdirSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import { join } from 'node:path';
import { configuredEndpoint } from '../lib/aws/endpoints';
import { createTableInput } from '../lib/tracking/table';
import { DEMO_LIBRARY_ID, DEMO_SMH_TASKS, seedDemoLibrary } from '../sandbox/demo';
import { startSandbox, type Sandbox } from '../sandbox/server';

// Node 20 is supported by the AWS SDK versions in package-lock.json; its notice about future versions would
// push our own first lines down, so it is turned off here and for the functions run under serverless-offline.
// (The SDK is imported lazily below, after this line.)
process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED = 'true';
const env = { ...process.env };
const port = env.PORT ?? '3000';
const lambdaPort = env.LAMBDA_PORT ?? '3002';
const sandboxPort = Number(env.SANDBOX_PORT ?? '9100');
const dynamoPort = Number(env.DYNAMODB_PORT ?? '8000');
const dataDir = env.DATA_DIR ?? join(__dirname, '..', '.data');
const api = `http://localhost:${port}`;
const TABLE = 'tencent-task-tracker-local-tasks';

/** dynalite on disk under .data/dynamodb, with the tracking table created on first run. */
async function startDynamo(): Promise<{ endpoint: string; server: Server }> {
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  const dynalite = require('dynalite') as (options: object) => Server;
  mkdirSync(join(dataDir, 'dynamodb'), { recursive: true });
  const server = dynalite({ path: join(dataDir, 'dynamodb'), createTableMs: 0 });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(dynamoPort, '127.0.0.1', resolve);
  });
  const endpoint = `http://127.0.0.1:${dynamoPort}`;
  const { CreateTableCommand, DynamoDBClient, ResourceInUseException } =
    await import('@aws-sdk/client-dynamodb');
  const client = new DynamoDBClient({
    endpoint,
    region: 'local',
    credentials: { accessKeyId: 'local', secretAccessKey: 'local' },
  });
  try {
    await client.send(new CreateTableCommand(createTableInput(TABLE)));
  } catch (error) {
    if (!(error instanceof ResourceInUseException)) throw error;
  } finally {
    client.destroy();
  }
  return { endpoint, server };
}

/** Fails with one line naming the variable to change when a port is taken (before anything starts). */
async function ensureFree(portNumber: number, variable: string): Promise<void> {
  const probe = createServer();
  try {
    await new Promise<void>((resolve, reject) => {
      probe.once('error', reject);
      probe.listen(portNumber, '0.0.0.0', resolve);
    });
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    throw new Error(
      code === 'EADDRINUSE'
        ? `port ${portNumber} is already in use (another npm start?). Stop it, or choose another: ${variable}=<port> npm start`
        : `cannot listen on port ${portNumber} (${code}): set ${variable} to another port`,
    );
  } finally {
    await new Promise((resolve) => probe.close(resolve));
  }
}

async function main() {
  await ensureFree(Number(port), 'PORT');
  await ensureFree(Number(lambdaPort), 'LAMBDA_PORT');
  await ensureFree(dynamoPort, 'DYNAMODB_PORT');
  if (!(env.TENCENTCLOUD_SECRET_ID && env.TENCENTCLOUD_SECRET_KEY) || !env.SMH_LIBRARY_SECRETS)
    await ensureFree(sandboxPort, 'SANDBOX_PORT');
  const lines: string[] = [];
  const lkeSandboxed = !(env.TENCENTCLOUD_SECRET_ID && env.TENCENTCLOUD_SECRET_KEY);
  const smhSandboxed = !env.SMH_LIBRARY_SECRETS;
  let sandbox: Sandbox | undefined;
  // The sandbox keeps its tasks and libraries in .data/ too, so what was tracked before a restart still exists.
  if (lkeSandboxed || smhSandboxed) {
    sandbox = await startSandbox({ port: sandboxPort, statePath: join(dataDir, 'sandbox.json') });
  }

  if (sandbox && lkeSandboxed) {
    const secretId = `AKIDsandbox${randomBytes(6).toString('hex')}`;
    const secretKey = randomBytes(18).toString('base64url');
    sandbox.lke.credentials.set(secretId, { secretKey });
    Object.assign(env, {
      TENCENTCLOUD_SECRET_ID: secretId,
      TENCENTCLOUD_SECRET_KEY: secretKey,
      LKE_ENDPOINT: sandbox.url,
    });
    delete env.TENCENTCLOUD_SESSION_TOKEN;
    lines.push(
      `SANDBOX MODE (LKE): no TENCENTCLOUD_SECRET_ID/KEY set, so LKE calls go to the local sandbox at ${sandbox.url}`,
      '  it verifies TC3 signatures with a per-run key; seeded: TaskId 8, ModifyAttributeLabel, BotBizId 1767024172536168448, SUCCESS',
      `  key (for serverless invoke local): TENCENTCLOUD_SECRET_ID=${secretId} TENCENTCLOUD_SECRET_KEY=${secretKey}`,
      `  try:  curl '${api}/lke/tasks/8?botBizId=1767024172536168448&taskType=ModifyAttributeLabel'`,
      `  set:  curl -X PUT ${sandbox.url}/_sandbox/lke/tasks -d '{"botBizId":"1767024172536168448","taskType":"ModifyAttributeLabel","taskId":"9","status":"RUNNING"}'`,
    );
  } else {
    lines.push(
      `LKE: your credentials, against ${env.LKE_ENDPOINT ?? 'https://lke.intl.tencentcloudapi.com'}`,
    );
  }

  if (sandbox && smhSandboxed) {
    const secret = seedDemoLibrary(sandbox.smh);
    sandbox.save();
    // Every sandbox library (the demo one, and any added with PUT /_sandbox/smh/libraries before this start).
    const libraries = sandbox.smh.snapshot().libraries.map((l) => [l.libraryId, l.secret]);
    Object.assign(env, {
      SMH_BASE_URL: sandbox.url,
      SMH_LIBRARY_SECRETS: JSON.stringify(Object.fromEntries(libraries)),
    });
    const spaceIds = DEMO_SMH_TASKS.filter((t) => t.spaceId === '-')
      .map((t) => t.taskId)
      .join(',');
    lines.push(
      `SANDBOX MODE (SMH): no SMH_LIBRARY_SECRETS set, so SMH calls go to the sandbox's demo library "${DEMO_LIBRARY_ID}" (secret: ${secret})`,
      `  tasks: ${DEMO_SMH_TASKS.map((t) => `${t.taskId} ${t.note}`).join('; ')}`,
      `  try:  curl ${api}/smh/libraries/${DEMO_LIBRARY_ID}/spaces/-/tasks/${spaceIds}`,
      `        curl ${api}/smh/libraries/${DEMO_LIBRARY_ID}/tasks/8`,
      `  set:  curl -X PUT ${sandbox.url}/_sandbox/smh/tasks -d '{"libraryId":"${DEMO_LIBRARY_ID}","spaceId":"-","taskId":"1","status":200}'`,
      `  fail: curl -X PUT ${sandbox.url}/_sandbox/smh/faults -d '{"kind":"status","status":429,"code":"RateLimitExceeded","times":5}'`,
    );
  } else {
    lines.push(`SMH: your library secrets, against ${env.SMH_BASE_URL ?? 'https://api.tencentsmh.cn'}`);
  }
  const dynamo = await startDynamo();
  // The table is dynalite, named the way the AWS SDKs and the CLI read it; dynalite checks no signature, so
  // placeholder keys do when the shell has none.
  env.AWS_ENDPOINT_URL_DYNAMODB = dynamo.endpoint;
  delete env.AWS_IGNORE_CONFIGURED_ENDPOINT_URLS; // the local table is dynalite, whatever the shell says
  env.AWS_ACCESS_KEY_ID ??= 'local';
  env.AWS_SECRET_ACCESS_KEY ??= 'local';
  delete env.DYNAMODB_ENDPOINT;
  const eventBridge = configuredEndpoint('EVENTBRIDGE', env, 'EVENTBRIDGE_ENDPOINT')?.url;
  const sfn = configuredEndpoint('SFN', env, 'STEPFUNCTIONS_ENDPOINT')?.url;
  if (!eventBridge && !sfn) {
    env.NOTIFY_SINK_FILE = join(dataDir, 'notifications.jsonl');
    lines.push(`Hand-over: events and Step Functions callbacks go to ${env.NOTIFY_SINK_FILE} (local sink)`);
  } else {
    lines.push(`Hand-over: EventBridge ${eventBridge ?? '(AWS)'}, Step Functions ${sfn ?? '(AWS)'}`);
  }
  lines.push(
    `Tracking: table ${TABLE} in dynalite at ${dynamo.endpoint}, data in ${dataDir}`,
    `  track: curl -X POST ${api}/lke/tasks -d '{"taskId":"8","taskType":"ModifyAttributeLabel","botBizId":"1767024172536168448"}'`,
    `  poll:  curl -X POST http://localhost:${lambdaPort}/2015-03-31/functions/tencent-task-tracker-local-lkePoll/invocations`,
    `HTTP API: ${api}   Lambda invoke endpoint: http://localhost:${lambdaPort}`,
  );
  console.log(lines.join('\n'));

  const child = spawn(
    process.execPath,
    [
      require.resolve('serverless/bin/serverless.js'),
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
      // Every function in this one process, each module loaded once. serverless-offline's default, a worker
      // thread per concurrent invocation, starts a fresh copy of the function for each: on a 2-core machine a
      // burst of 100 requests spent over 15 s booting them and timed out (Lambda gives each container a CPU of
      // its own). Invocations that overlap share the module's clients, as they would not on Lambda; each keeps
      // its own log context (functions/common/logger.ts).
      '--useInProcess',
    ],
    {
      env: { ...env, SLS_TELEMETRY_DISABLED: '1', SLS_NOTIFICATIONS_MODE: 'off' },
      stdio: ['inherit', 'pipe', 'pipe'],
    },
  );
  // serverless-offline's banner lists invoke URLs by the short function name, which answer 404: the right ones
  // follow it as soon as it is up.
  let ready = false;
  const forward = (to: NodeJS.WriteStream) => (chunk: Buffer) => {
    to.write(chunk);
    if (ready || !chunk.toString().includes('Server ready')) return;
    ready = true;
    // On the stream that carried the banner: a reader of both streams then sees them in this order.
    to.write(
      [
        `Invoke directly (the banner's short names answer 404; the function name is tencent-task-tracker-local-<fn>):`,
        `  curl -X POST http://localhost:${lambdaPort}/2015-03-31/functions/tencent-task-tracker-local-lkeStatus/invocations -d '{"taskId":"8","taskType":"ModifyAttributeLabel","botBizId":"1767024172536168448"}'`,
        `OpenAPI document: curl ${api}/openapi.json`,
        '',
      ].join('\n'),
    );
  };
  child.stdout?.on('data', forward(process.stdout));
  child.stderr?.on('data', forward(process.stderr));

  const stop = (signal: NodeJS.Signals) => child.kill(signal);
  process.on('SIGINT', stop);
  process.on('SIGTERM', stop);
  child.on('exit', async (code, signal) => {
    await sandbox?.close();
    await new Promise((resolve) => dynamo.server.close(resolve));
    if (signal || code === 0 || code === 130)
      console.log(
        `\nStopped: the HTTP API, the pollers, dynalite${sandbox ? ' and the sandbox' : ''}. Data stays in ${dataDir}.`,
      );
    process.exit(code ?? (signal ? 0 : 1));
  });
}

main().catch((error: unknown) => {
  console.error(`npm start failed: ${(error as Error).message}`);
  process.exit(1);
});
