/**
 * `npm run bench`: what a deploy costs and how fast a warm function answers, measured on this machine.
 *
 * 1. Packages the service (`serverless package --stage prod`, offline) and reports each function's zip and
 *    bundle size.
 * 2. Cold start: loads each bundle in a fresh Node process (AWS SDK resolved from node_modules, as the Lambda
 *    runtime provides it) and runs one direct invoke against the sandbox; median of BENCH_COLD_RUNS (7).
 * 3. Warm path: the lkeStatus handler in this process, BENCH_WARM_CALLS (2000) direct invokes against the
 *    sandbox over loopback (quota raised for the bench), reporting latency percentiles, throughput and heap.
 * 4. Pollers: BENCH_POLL_TASKS (1000) due tasks per provider in an in-memory dynalite, one poll run each
 *    (LKE with the quota raised; SMH in 10 libraries), reporting tasks per second and store writes.
 */
import { execFile } from 'node:child_process';
import { readFile, readdir, rm, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { promisify } from 'node:util';
import JSZip from 'jszip';
import { CreateTableCommand, DynamoDBClient } from '@aws-sdk/client-dynamodb';
import type { AddressInfo } from 'node:net';
import { lkeConfig, smhConfig, trackingConfig } from '../lib/config';
import { FileNotifier } from '../lib/handover/notifier';
import { LkeClient } from '../lib/lke/client';
import { SmhClient } from '../lib/smh/client';
import { librarySecretProvider } from '../lib/smh/secrets';
import { lkeChecker, smhChecker } from '../lib/tracking/checkers';
import { poll } from '../lib/tracking/poller';
import { lkeIdentity, smhIdentity, track } from '../lib/tracking/service';
import { TaskStore } from '../lib/tracking/store';
import { createTableInput } from '../lib/tracking/table';
import { DEMO_LIBRARY_ID, seedDemoLibrary } from '../sandbox/demo';
import { startSandbox } from '../sandbox/server';
import { packageService } from '../scripts/serverless';

const run = promisify(execFile);
const ROOT = join(__dirname, '..');
const COLD_RUNS = Number(process.env.BENCH_COLD_RUNS ?? 7);
const WARM_CALLS = Number(process.env.BENCH_WARM_CALLS ?? 2000);
const POLL_TASKS = Number(process.env.BENCH_POLL_TASKS ?? 1000);
const SECRET_ID = 'AKIDbench';
const SECRET_KEY = 'bench-secret-key';

/** Per bundled function: a direct-invoke payload that exercises its normal path. */
const INVOKES: Record<string, unknown> = {
  lkeStatus: { taskId: '8', taskType: 'ModifyAttributeLabel', botBizId: '1767024172536168448' },
  smhStatus: { libraryId: 'smhdemo', spaceId: '-', taskIds: ['1', '2', '3', '4', '5', '6', '7'] },
};

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)] as number;
const pct = (sorted: number[], p: number) =>
  sorted[Math.min(sorted.length - 1, Math.floor(sorted.length * p))] as number;
const kb = (bytes: number) => `${(bytes / 1024).toFixed(0)} KiB`;

/** Loads a bundle in a fresh process and invokes it once; prints timings as JSON. */
const COLD_PROBE = `
const t0 = process.hrtime.bigint();
const mod = require(process.env.BUNDLE);
const t1 = process.hrtime.bigint();
const context = { awsRequestId: 'bench', getRemainingTimeInMillis: () => 10000 };
Promise.resolve(mod.handler(JSON.parse(process.env.PAYLOAD), context)).then((out) => {
  const t2 = process.hrtime.bigint();
  process.stdout.write(JSON.stringify({ loadMs: Number(t1 - t0) / 1e6, firstInvokeMs: Number(t2 - t1) / 1e6,
    rssMiB: process.memoryUsage().rss / 2 ** 20, ok: !!out }));
}, (e) => { process.stdout.write(JSON.stringify({ error: String(e && e.name) })); });
`;

async function main() {
  const sandbox = await startSandbox({
    lke: { credentials: { [SECRET_ID]: { secretKey: SECRET_KEY } }, rateLimitPerSecond: 1_000_000 },
  });
  const librarySecret = seedDemoLibrary(sandbox.smh);
  const env = {
    SMH_BASE_URL: sandbox.url,
    SMH_LIBRARY_SECRETS: JSON.stringify({ [DEMO_LIBRARY_ID]: librarySecret }),
    TENCENTCLOUD_SECRET_ID: SECRET_ID,
    TENCENTCLOUD_SECRET_KEY: SECRET_KEY,
    LKE_ENDPOINT: sandbox.url,
    LKE_RATE_LIMIT_PER_SECOND: '1000',
    POWERTOOLS_LOG_LEVEL: 'SILENT',
  };
  console.log(`node ${process.version}, ${process.arch}; packaging…`);
  const { dir } = await packageService('prod', { ESBUILD_WORK_FOLDER: '.esbuild-bench' });
  try {
    console.log('\n## Artifacts and cold start (fresh process per run, median of %d)', COLD_RUNS);
    console.log('function | zip | bundle | load | first invoke | RSS');
    for (const file of (await readdir(dir)).filter((f) => f.endsWith('.zip')).sort()) {
      const name = file.replace(/\.zip$/, '');
      const zip = await JSZip.loadAsync(await readFile(join(dir, file)));
      const entry = Object.keys(zip.files).find((f) => f.endsWith('.js')) as string;
      const bundlePath = join(dir, `${name}.js`);
      const code = await zip.file(entry)!.async('nodebuffer');
      await writeFile(bundlePath, code);
      const payload = INVOKES[name];
      if (payload === undefined) {
        console.log(
          `${name} | ${kb((await stat(join(dir, file))).size)} | ${kb(code.length)} | (no bench payload)`,
        );
        continue;
      }
      const samples: { loadMs: number; firstInvokeMs: number; rssMiB: number }[] = [];
      for (let i = 0; i < COLD_RUNS; i++) {
        const { stdout } = await run(process.execPath, ['-e', COLD_PROBE], {
          env: {
            ...process.env,
            ...env,
            BUNDLE: bundlePath,
            PAYLOAD: JSON.stringify(payload),
            NODE_PATH: join(ROOT, 'node_modules'),
            NODE_NO_WARNINGS: '1',
          },
        });
        const sample = JSON.parse(stdout);
        if (sample.error) throw new Error(`${name} cold invoke failed: ${sample.error}`);
        samples.push(sample);
      }
      console.log(
        `${name} | ${kb((await stat(join(dir, file))).size)} | ${kb(code.length)} | ` +
          `${median(samples.map((s) => s.loadMs)).toFixed(1)} ms | ${median(samples.map((s) => s.firstInvokeMs)).toFixed(1)} ms | ` +
          `${median(samples.map((s) => s.rssMiB)).toFixed(1)} MiB`,
      );
    }

    console.log('\n## Warm lkeStatus (direct invoke, in process, sandbox over loopback)');
    Object.assign(process.env, env);
    const { lkeStatus } = await import('../functions/lke/status');
    const handler = lkeStatus();
    const payload = INVOKES.lkeStatus;
    const context = { awsRequestId: 'bench', getRemainingTimeInMillis: () => 10_000 } as never;
    for (let i = 0; i < 50; i++) await handler(payload, context); // warm-up
    global.gc?.();
    const heapBefore = process.memoryUsage().heapUsed;
    for (const concurrency of [1, 16]) {
      const latencies: number[] = [];
      const started = performance.now();
      let next = 0;
      await Promise.all(
        Array.from({ length: concurrency }, async () => {
          while (next++ < WARM_CALLS) {
            const t = performance.now();
            await handler(payload, context);
            latencies.push(performance.now() - t);
          }
        }),
      );
      const seconds = (performance.now() - started) / 1000;
      latencies.sort((a, b) => a - b);
      console.log(
        `concurrency ${concurrency}: ${WARM_CALLS} calls, ${(WARM_CALLS / seconds).toFixed(0)} calls/s, ` +
          `p50 ${pct(latencies, 0.5).toFixed(2)} ms, p99 ${pct(latencies, 0.99).toFixed(2)} ms`,
      );
    }
    global.gc?.();
    console.log(`heap growth over the warm runs: ${kb(process.memoryUsage().heapUsed - heapBefore)}`);

    await benchPollers(sandbox, dir);
  } finally {
    await sandbox.close();
    await rm(dir, { recursive: true, force: true });
    await rm(join(ROOT, '.esbuild-bench'), { recursive: true, force: true });
  }
}

async function benchPollers(sandbox: Awaited<ReturnType<typeof startSandbox>>, dir: string) {
  console.log(`\n## Pollers (${POLL_TASKS} due tasks each, dynalite in memory, sandbox over loopback)`);
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  const dynalite = require('dynalite') as (o: object) => import('node:http').Server;
  const server = dynalite({ createTableMs: 0 });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const client = new DynamoDBClient({
    endpoint: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    region: 'local',
    credentials: { accessKeyId: 'local', secretAccessKey: 'local' },
  });
  await client.send(new CreateTableCommand(createTableInput('bench')));
  const store = new TaskStore({
    client,
    config: trackingConfig({
      TABLE_NAME: 'bench',
      POLL_FIRST_DELAY_SECONDS: '0',
      POLL_MAX_TASKS_PER_RUN: '100000',
    }),
  });
  const notifier = new FileNotifier(join(dir, 'notifications.jsonl'));
  const libraries = Array.from({ length: 10 }, (_, n) => `benchlib${n}`);
  for (const libraryId of libraries) sandbox.smh.setLibrary({ libraryId, secret: `secret-${libraryId}` });
  for (let i = 0; i < POLL_TASKS; i++) {
    sandbox.lke.setTask({
      botBizId: '1',
      taskType: 'Bench',
      taskId: String(i),
      status: 'SUCCESS',
      cosPath: '',
    });
    await track(store, lkeIdentity({ botBizId: '1', taskType: 'Bench', taskId: String(i) }));
    const libraryId = libraries[i % libraries.length] as string;
    sandbox.smh.setTask({ libraryId, spaceId: '-', taskId: String(i + 1), status: 200 });
    await track(store, smhIdentity({ libraryId, spaceId: '-' }, String(i + 1)));
  }
  const env = { UPSTREAM_RETRY_BASE_MS: '10' };
  const lke = new LkeClient({
    config: lkeConfig({ ...env, LKE_ENDPOINT: sandbox.url, LKE_RATE_LIMIT_PER_SECOND: '1000' }),
    credentials: async () => ({ secretId: SECRET_ID, secretKey: SECRET_KEY }),
  });
  const smhEnv = {
    ...env,
    SMH_BASE_URL: sandbox.url,
    SMH_LIBRARY_SECRETS: JSON.stringify(Object.fromEntries(libraries.map((l) => [l, `secret-${l}`]))),
  };
  const smh = new SmhClient({
    config: smhConfig(smhEnv),
    secrets: librarySecretProvider(smhEnv, () => {
      throw new Error('no SSM in the bench');
    }),
  });
  for (const [name, checker] of [
    ['lkePoll', lkeChecker(() => lke)],
    ['smhPoll', smhChecker(() => smh)],
  ] as const) {
    const before = sandbox.smh.taskRequests + sandbox.lke.requestCount;
    const summary = await poll({ store, checker, notifier }, { deadline: Date.now() + 120_000 });
    const upstream = sandbox.smh.taskRequests + sandbox.lke.requestCount - before;
    console.log(
      `${name}: ${summary.finished} finished in ${summary.durationMs} ms ` +
        `(${((summary.finished / summary.durationMs) * 1000).toFixed(0)} tasks/s), ${upstream} upstream requests, ` +
        `${summary.notified} notifications`,
    );
  }
  client.destroy();
  await new Promise((resolve) => server.close(resolve));
}

main().catch((error: unknown) => {
  console.error(error);
  process.exit(1);
});
