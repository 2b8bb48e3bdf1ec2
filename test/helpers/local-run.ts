import { spawn, type ChildProcess } from 'node:child_process';
import { createServer } from 'node:net';
import { join } from 'node:path';
import { offlineEnv, ROOT } from '../../scripts/serverless';

/** A free loopback port (the OS picks it, we release it for the child to bind). */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address() as { port: number };
      server.close(() => resolve(port));
    });
  });
}

export interface LocalRun {
  baseUrl: string;
  lambdaUrl: string;
  sandboxUrl: string;
  output(): string;
  stop(): Promise<void>;
}

/**
 * Runs `npm start`'s script (scripts/start.ts) as a user would, and waits until the HTTP API answers. Pass
 * DATA_DIR to keep the tracking data somewhere else than the project's .data/.
 */
export async function startLocalRun(env: Record<string, string> = {}): Promise<LocalRun> {
  const [port, lambdaPort, sandboxPort, dynamoPort] = await Promise.all([
    freePort(),
    freePort(),
    freePort(),
    freePort(),
  ]);
  const work = `.esbuild-e2e-${port}`;
  const child: ChildProcess = spawn(join(ROOT, 'node_modules', '.bin', 'tsx'), ['scripts/start.ts'], {
    cwd: ROOT,
    detached: true, // own process group, so stop() ends serverless-offline and its workers too
    env: offlineEnv({
      PORT: String(port),
      LAMBDA_PORT: String(lambdaPort),
      SANDBOX_PORT: String(sandboxPort),
      DYNAMODB_PORT: String(dynamoPort),
      ESBUILD_WORK_FOLDER: work,
      ...env,
    }),
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let output = '';
  child.stdout?.on('data', (chunk: Buffer) => (output += chunk.toString()));
  child.stderr?.on('data', (chunk: Buffer) => (output += chunk.toString()));
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));

  const stop = async () => {
    try {
      process.kill(-(child.pid as number), 'SIGTERM');
    } catch {
      /* already gone */
    }
    let timer: NodeJS.Timeout | undefined;
    await Promise.race([exited, new Promise((resolve) => (timer = setTimeout(resolve, 5000)))]);
    clearTimeout(timer);
    try {
      process.kill(-(child.pid as number), 'SIGKILL');
    } catch {
      /* already gone */
    }
    const { rm } = await import('node:fs/promises');
    await rm(join(ROOT, work), { recursive: true, force: true });
  };

  const deadline = Date.now() + 90_000;
  while (!output.includes('Server ready')) {
    if (child.exitCode !== null || Date.now() > deadline) {
      await stop();
      throw new Error(`npm start did not come up:\n${output}`);
    }
    await new Promise((resolve) => setTimeout(resolve, 200));
  }
  return {
    baseUrl: `http://localhost:${port}`,
    lambdaUrl: `http://localhost:${lambdaPort}`,
    sandboxUrl: `http://127.0.0.1:${sandboxPort}`,
    output: () => output,
    stop,
  };
}
