import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { withPackageLock } from '../../scripts/serverless';

// serverless package stages in the service's own .serverless folder and deletes it when done, so two packagings
// at once broke each other (CI: ENOENT .serverless/serverless-state.json). packageService holds this lock.
describe('withPackageLock (scripts/serverless.ts)', () => {
  let folder: string;
  beforeEach(async () => {
    folder = await mkdtemp(join(tmpdir(), 'ttt-lock-'));
  });
  afterEach(() => rm(folder, { recursive: true, force: true }));

  it('runs one packaging at a time, in the order they asked, and frees the lock after a failure', async () => {
    const lock = join(folder, 'lock');
    const log: string[] = [];
    const work =
      (name: string, fail = false) =>
      async () => {
        log.push(`${name} in`);
        await new Promise((resolve) => setTimeout(resolve, 150));
        log.push(`${name} out`);
        if (fail) throw new Error(`${name} failed`);
        return name;
      };
    const results = await Promise.allSettled([
      withPackageLock(work('a', true), lock),
      withPackageLock(work('b'), lock),
    ]);
    expect(results.map((r) => r.status)).toEqual(['rejected', 'fulfilled']);
    expect(log).toEqual(['a in', 'a out', 'b in', 'b out']);
    await expect(withPackageLock(async () => 'c', lock)).resolves.toBe('c');
  });

  it('takes over a lock whose owner died', async () => {
    const lock = join(folder, 'lock');
    await mkdir(lock);
    await writeFile(join(lock, 'pid'), '2147483646'); // no such process
    const started = Date.now();
    await expect(withPackageLock(async () => 'taken', lock)).resolves.toBe('taken');
    expect(Date.now() - started).toBeLessThan(5_000);
  });
});
