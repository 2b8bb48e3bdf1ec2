import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { lkeConfig, smhConfig } from '../../lib/config';
import { LkeClient } from '../../lib/lke/client';
import { SmhClient } from '../../lib/smh/client';
import { librarySecretProvider } from '../../lib/smh/secrets';
import { ROOT } from '../../scripts/serverless';
import { freePort } from '../helpers/local-run';

/**
 * `npm run sandbox` keeps its tasks and libraries across restarts, as the README says (issue 16: it kept
 * nothing and stopped silently on Ctrl-C): $DATA_DIR/sandbox.json, written on every change and on exit.
 */
const SECRET_ID = 'AKIDsandboxCliTest0001';
const SECRET_KEY = 'sandbox-cli-test-key-0001';
const TASK = { botBizId: '1767024172536168448', taskType: 'ExportAttributeLabel', taskId: '42' };

const dataDir = mkdtempSync(join(tmpdir(), 'ttt-sandbox-cli-'));
const statePath = join(dataDir, 'sandbox.json');
afterAll(() => rmSync(dataDir, { recursive: true, force: true }));

interface Running {
  url: string;
  output(): string;
  exited: Promise<number | null>;
  /** Sends `signal` (Ctrl-C is SIGINT) and waits for the exit code. */
  stop(signal: NodeJS.Signals): Promise<number | null>;
}
/** Process groups still running: tsx runs the script in a child of its own, which a kill of tsx leaves. */
const running = new Set<number>();
afterAll(() => {
  for (const pid of running) {
    try {
      process.kill(-pid, 'SIGKILL');
    } catch {
      /* already gone */
    }
  }
});

/** `npm run sandbox`'s script, as a user runs it, with its data in `dir`. */
async function sandboxCli(dir = dataDir): Promise<Running> {
  const port = await freePort();
  const child: ChildProcess = spawn(join(ROOT, 'node_modules', '.bin', 'tsx'), ['sandbox/cli.ts'], {
    cwd: ROOT,
    detached: true, // a group of its own, so that afterAll can end the script and tsx together
    env: {
      ...process.env,
      DATA_DIR: dir,
      SANDBOX_PORT: String(port),
      SANDBOX_SECRET_ID: SECRET_ID,
      SANDBOX_SECRET_KEY: SECRET_KEY,
    },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  running.add(child.pid as number);
  let output = '';
  child.stdout?.on('data', (chunk: Buffer) => (output += chunk.toString()));
  child.stderr?.on('data', (chunk: Buffer) => (output += chunk.toString()));
  const exited = new Promise<number | null>((resolve) =>
    child.once('exit', (code) => {
      running.delete(child.pid as number);
      resolve(code);
    }),
  );
  const deadline = Date.now() + 15_000;
  while (!/state: .*$/m.test(output) && child.exitCode === null) {
    if (Date.now() > deadline) throw new Error(`sandbox did not say where its state is:\n${output}`);
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
  return {
    url: `http://127.0.0.1:${port}`,
    output: () => output,
    exited,
    stop: async (signal) => {
      child.kill(signal); // tsx hands SIGINT and SIGTERM on to the script, as a terminal's Ctrl-C does
      return exited;
    },
  };
}

const put = async (url: string, body: unknown) => {
  const response = await fetch(url, { method: 'PUT', body: JSON.stringify(body) });
  expect(response.status).toBe(200);
};

/** The real clients, as `npm start` would use them against this sandbox. */
function clients(url: string, librarySecrets: Record<string, string>) {
  const env = {
    LKE_ENDPOINT: url,
    SMH_BASE_URL: url,
    SMH_LIBRARY_SECRETS: JSON.stringify(librarySecrets),
    UPSTREAM_MAX_ATTEMPTS: '1',
  };
  return {
    lke: new LkeClient({
      config: lkeConfig(env),
      credentials: async () => ({ secretId: SECRET_ID, secretKey: SECRET_KEY }),
    }),
    smh: new SmhClient({
      config: smhConfig(env),
      secrets: librarySecretProvider(env, () => {
        throw new Error('no SSM in this test');
      }),
    }),
  };
}

it('keeps tasks and libraries across a restart, says so at start, and says where they stay on Ctrl-C', async () => {
  const first = await sandboxCli();
  expect(first.output()).toContain(`state: ${statePath} (new)`);
  await put(`${first.url}/_sandbox/lke/tasks`, { ...TASK, status: 'RUNNING' });
  await put(`${first.url}/_sandbox/smh/libraries`, { libraryId: 'smhkept', secret: 'kept-library-secret' });
  await put(`${first.url}/_sandbox/smh/tasks`, {
    libraryId: 'smhkept',
    spaceId: '-',
    taskId: '7',
    status: 200,
    result: { deleteCount: 3 },
  });
  // Written on change, before any exit.
  expect(readFileSync(statePath, 'utf8')).toContain('smhkept');

  expect(await first.stop('SIGINT')).toBe(0);
  expect(first.output()).toContain(`Sandbox stopped (SIGINT). Its tasks and libraries stay in ${statePath}.`);

  const second = await sandboxCli();
  try {
    expect(second.output()).toMatch(
      new RegExp(
        `state: ${statePath.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')} \\(restored: 2 LKE tasks, \\d+ SMH tasks in 2 libraries\\)`,
      ),
    );
    const { lke, smh } = clients(second.url, { smhkept: 'kept-library-secret' });
    expect(await lke.getTaskStatus(TASK)).toMatchObject({ taskId: '42', upstreamStatus: 'RUNNING' });
    expect(await smh.queryTasks({ libraryId: 'smhkept', spaceId: '-', taskIds: ['7'] })).toMatchObject({
      tasks: [{ taskId: '7', status: 'succeeded', result: { deleteCount: 3 } }],
      notFound: [],
    });
    // A change after the restart is kept too, and SIGTERM saves and says so as Ctrl-C does.
    await put(`${second.url}/_sandbox/lke/tasks`, { ...TASK, status: 'SUCCESS' });
  } finally {
    expect(await second.stop('SIGTERM')).toBe(0);
  }
  expect(second.output()).toContain(
    `Sandbox stopped (SIGTERM). Its tasks and libraries stay in ${statePath}.`,
  );
  const state = JSON.parse(readFileSync(statePath, 'utf8')) as { lke: { tasks: { status: string }[] } };
  expect(state.lke.tasks).toContainEqual(expect.objectContaining({ ...TASK, status: 'SUCCESS' }));
});

it('refuses to start on an unreadable state file, naming it', async () => {
  const broken = mkdtempSync(join(tmpdir(), 'ttt-sandbox-cli-broken-'));
  try {
    writeFileSync(join(broken, 'sandbox.json'), '{"lke":');
    const cli = await sandboxCli(broken);
    expect(await cli.exited).toBe(1);
    expect(cli.output()).toContain(`the sandbox state in ${join(broken, 'sandbox.json')} is unreadable`);
    expect(readFileSync(join(broken, 'sandbox.json'), 'utf8')).toBe('{"lke":'); // left for the user to look at
  } finally {
    rmSync(broken, { recursive: true, force: true });
  }
});
