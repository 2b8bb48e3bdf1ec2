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

  it('runs one packaging at a time and frees the lock after a failure', async () => {
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
    // One after the other, whichever took it first.
    expect([
      ['a in', 'a out', 'b in', 'b out'],
      ['b in', 'b out', 'a in', 'a out'],
    ]).toContainEqual(log);
    await expect(withPackageLock(async () => 'c', lock)).resolves.toBe('c');
  });

  it('takes over a lock whose owner died', async () => {
    const lock = join(folder, 'lock');
    await mkdir(lock);
    await writeFile(join(lock, 'owner'), '2147483646 gone'); // no such process
    const started = Date.now();
    await expect(withPackageLock(async () => 'taken', lock)).resolves.toBe('taken');
    expect(Date.now() - started).toBeLessThan(5_000);
  });

  it('never lets two hold it: a waiter that finds a live owner waits, whatever the time, and leaves no litter', async () => {
    const lock = join(folder, 'lock');
    let holders = 0;
    let most = 0;
    const work = async () => {
      most = Math.max(most, ++holders);
      await new Promise((resolve) => setTimeout(resolve, 30));
      holders--;
    };
    await Promise.all(Array.from({ length: 6 }, () => withPackageLock(work, lock)));
    expect(most).toBe(1);
    const { readdir } = await import('node:fs/promises');
    expect(await readdir(folder)).toEqual([]);
  });
});
