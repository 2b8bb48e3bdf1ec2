import { CreateTableCommand, DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createTableInput } from '../../lib/tracking/table';
import { ROOT } from '../../scripts/serverless';
import { freePort } from './local-run';

/**
 * Tencent's stand-in and DynamoDB in processes of their own, for tests whose timing matters (the shared quota):
 * one busy test process running servers and clients together would stamp queued requests with one arrival time
 * and fire timers late, which no real deployment does.
 */

/** The sandbox (`npm run sandbox`) in a process of its own. */
export async function sandboxProcess(secretId: string, secretKey: string, latencyMs = 0) {
  const port = await freePort();
  // Its state file (`npm run sandbox` keeps one) in a folder of its own, not in the project's .data/.
  const dataDir = mkdtempSync(join(tmpdir(), 'ttt-sandbox-process-'));
  const child = spawn(join(ROOT, 'node_modules', '.bin', 'tsx'), ['sandbox/cli.ts'], {
    cwd: ROOT,
    env: {
      ...process.env,
      DATA_DIR: dataDir,
      SANDBOX_PORT: String(port),
      SANDBOX_SECRET_ID: secretId,
      SANDBOX_SECRET_KEY: secretKey,
      SANDBOX_LKE_LATENCY_MS: String(latencyMs),
    },
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  await new Promise<void>((resolve, reject) => {
    child.once('exit', (code) => reject(new Error(`sandbox exited with ${code}`)));
    child.stdout?.on('data', (chunk: Buffer) => {
      if (chunk.toString().includes('Sandbox listening')) resolve();
    });
  });
  const url = `http://127.0.0.1:${port}`;
  return {
    url,
    setLkeTask: (task: Record<string, unknown>) =>
      fetch(`${url}/_sandbox/lke/tasks`, { method: 'PUT', body: JSON.stringify(task) }).then((r) => r.json()),
    counters: async () =>
      (await (await fetch(`${url}/_sandbox/lke/counters`)).json()) as {
        requests: number;
        throttled: number;
        peakPerSecond: number;
        perSecond: number;
      },
    resetCounters: () => fetch(`${url}/_sandbox/lke/counters`, { method: 'DELETE' }).then((r) => r.json()),
    stop: () =>
      new Promise<void>((resolve) => {
        child.once('exit', () => {
          rmSync(dataDir, { recursive: true, force: true });
          resolve();
        });
        child.kill('SIGTERM');
      }),
  };
}

/** dynalite (in memory) in a process of its own, with the tracking table created; for timing-sensitive tests. */
export async function dynamoProcess(tableName = 'tasks-test') {
  const port = await freePort();
  const child = spawn(
    process.execPath,
    [
      '-e',
      `require('dynalite')({ createTableMs: 0, deleteTableMs: 0, updateTableMs: 0 }).listen(${port}, '127.0.0.1', () => console.log('ready'))`,
    ],
    { cwd: ROOT, stdio: ['ignore', 'pipe', 'inherit'] },
  );
  await new Promise<void>((resolve, reject) => {
    child.once('exit', (code) => reject(new Error(`dynalite exited with ${code}`)));
    child.stdout?.on('data', (chunk: Buffer) => {
      if (chunk.toString().includes('ready')) resolve();
    });
  });
  const endpoint = `http://127.0.0.1:${port}`;
  const client = new DynamoDBClient({
    endpoint,
    region: 'us-east-1',
    credentials: { accessKeyId: 'local', secretAccessKey: 'local' },
  });
  await client.send(new CreateTableCommand(createTableInput(tableName)));
  client.destroy();
  return {
    endpoint,
    stop: () =>
      new Promise<void>((resolve) => {
        child.once('exit', () => resolve());
        child.kill('SIGTERM');
      }),
  };
}
