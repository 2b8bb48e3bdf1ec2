import { execFile } from 'node:child_process';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { deadlineSignal } from '../../lib/upstream';

const ROOT = join(__dirname, '..', '..');

/**
 * A warm container serves invocation after invocation: nothing of one may outlive it. Each invocation used to
 * leave a pending `AbortSignal.timeout` (its deadline) holding its async context, its logger included: ~9 KB
 * an invocation, a 256 MB container full after ~25,000 of them. Measured in a plain Node process.
 */
it('keeps nothing of an invocation once it has answered', async () => {
  const { stdout } = await promisify(execFile)(
    process.execPath,
    ['--expose-gc', '--import', 'tsx', join(ROOT, 'test', 'helpers', 'invocation-memory.ts')],
    { cwd: ROOT, env: { ...process.env, INVOCATIONS: '5000', POWERTOOLS_LOG_LEVEL: 'SILENT' } },
  );
  expect(Number(stdout)).toBeLessThan(5 * 1024 * 1024); // leaking, it grew by ~45 MB
}, 60_000);

it('deadlineSignal aborts with a TimeoutError, follows its caller, and lets go when cleared', async () => {
  const timed = deadlineSignal(10);
  await new Promise((resolve) => setTimeout(resolve, 30));
  expect(timed.signal.aborted).toBe(true);
  expect((timed.signal.reason as Error).name).toBe('TimeoutError');
  expect(timed.timedOut()).toBe(true);

  const caller = new AbortController();
  const followed = deadlineSignal(60_000, caller.signal);
  caller.abort(new Error('caller gave up'));
  expect(followed.signal.aborted).toBe(true);
  expect(followed.timedOut()).toBe(true);
  followed.clear();

  const cleared = deadlineSignal(10);
  cleared.clear();
  await new Promise((resolve) => setTimeout(resolve, 30));
  expect(cleared.signal.aborted).toBe(false);
});

it("lets an invocation's signal serve many calls at once without Node's leak warning", async () => {
  // In a plain Node process: jest's sandbox does not pass process warnings on.
  const script = `
    const { deadlineSignal } = require(${JSON.stringify(join(ROOT, 'lib', 'upstream.ts'))});
    const invocation = deadlineSignal(60_000);
    const calls = Array.from({ length: 40 }, () => deadlineSignal(60_000, invocation.signal));
    setTimeout(() => { for (const call of calls) call.clear(); invocation.clear(); }, 50);
  `;
  const { stderr } = await promisify(execFile)(process.execPath, ['--import', 'tsx', '-e', script], {
    cwd: ROOT,
  });
  expect(stderr).not.toContain('MaxListenersExceededWarning');
}, 30_000);
