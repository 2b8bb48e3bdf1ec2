import { execFile } from 'node:child_process';
import { cpSync, mkdtempSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { basename, join } from 'node:path';
import { MUTANTS, type Mutant } from '../test/sim/mutants';
import { PINNED } from '../test/sim/pins';

/**
 * `npm run sim:mutants -- [names…] [--seeds N] [--family F] [--jobs J]`: puts each bug of `test/sim/mutants.ts`
 * back alone, in a copy of the project (the working tree as it is, uncommitted changes included), and runs seeds
 * from 1 until one breaks an invariant: which seed, which rule, after how many seeds. No names: every mutant.
 * `--pins`: runs each seed pinned in `test/sim/pins.ts` on the code with its bug, and fails if one no longer
 * catches it. `--jobs`: mutants run side by side, each in its own copy (default 1; the simulation uses one core).
 */
const ROOT = join(__dirname, '..');
const SKIP = new Set(['node_modules', '.git', '.data', '.serverless', 'coverage', '.scratch']);

function copyProject(): string {
  const dir = mkdtempSync(join(tmpdir(), 'ttt-mutant-'));
  cpSync(ROOT, dir, {
    recursive: true,
    filter: (source) => {
      const name = basename(source);
      return !(SKIP.has(name) || name.startsWith('.esbuild')) || source === ROOT;
    },
  });
  symlinkSync(join(ROOT, 'node_modules'), join(dir, 'node_modules'), 'dir');
  return dir;
}

/** Applies the mutant's edits in `dir`; answers how to undo them. Throws when an edit's text is not there. */
function apply(dir: string, mutant: Mutant): () => void {
  const originals = new Map<string, string>();
  for (const { file, from, to } of mutant.edits) {
    const path = join(dir, file);
    const text = readFileSync(path, 'utf8');
    if (!originals.has(path)) originals.set(path, text);
    if (text.split(from).length !== 2) {
      for (const [p, t] of originals) writeFileSync(p, t);
      throw new Error(`mutant ${mutant.name}: ${file} must hold ${JSON.stringify(from.slice(0, 80))} once`);
    }
    writeFileSync(path, text.replace(from, to));
  }
  return () => {
    for (const [path, text] of originals) writeFileSync(path, text);
  };
}

function sim(dir: string, args: string[], env: Record<string, string> = {}) {
  return new Promise<{ code: number; out: string; seconds: number }>((resolve) => {
    const started = Date.now();
    execFile(
      join(dir, 'node_modules', '.bin', 'tsx'),
      ['scripts/sim.ts', ...args],
      {
        cwd: dir,
        env: {
          ...process.env,
          POWERTOOLS_LOG_LEVEL: 'SILENT',
          AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED: 'true',
          ...env,
        },
        maxBuffer: 256 * 1024 * 1024,
      },
      (error, stdout) =>
        resolve({
          code: error ? Number(error.code ?? 1) : 0,
          out: stdout,
          seconds: (Date.now() - started) / 1000,
        }),
    );
  });
}

const firstViolation = (out: string) =>
  out
    .split('\n')
    .find((line) => line.includes('VIOLATION'))
    ?.replace(/^\s*\S+\s+VIOLATION\s*/, '')
    .slice(0, 200);

async function hunt(dir: string, mutant: Mutant, seeds: number, family?: string): Promise<string> {
  const undo = apply(dir, mutant);
  try {
    const args = ['--seeds', String(seeds), '--quiet', '--stop', ...(family ? ['--family', family] : [])];
    const { code, out, seconds } = await sim(dir, args);
    const failed = /seed (\d+) \((\w+)\) FAILED/.exec(out);
    // A simulation that did not run (the mutant broke the build) caught nothing: say so, never "not caught".
    if (!failed && code !== 0)
      throw new Error(`mutant ${mutant.name}: the simulation did not run\n${out.slice(-2000)}`);
    if (!failed)
      return `${mutant.name}: NOT CAUGHT in ${seeds} seeds (${seconds.toFixed(0)} s) — ${mutant.bug}`;
    return (
      `${mutant.name}: caught by seed ${failed[1]} (${failed[2]}), after ${failed[1]} seeds, ` +
      `${seconds.toFixed(0)} s — ${mutant.bug}\n    ${firstViolation(out) ?? ''}`
    );
  } finally {
    undo();
  }
}

async function checkPin(dir: string, pin: (typeof PINNED)[number]): Promise<{ ok: boolean; line: string }> {
  const mutant = MUTANTS.find((m) => m.name === pin.mutant);
  if (!mutant) return { ok: false, line: `seed ${pin.seed}: no mutant named ${pin.mutant}` };
  const undo = apply(dir, mutant);
  try {
    const { code, out } = await sim(dir, pin.family ? ['--family', pin.family] : [], {
      SIM_SEED: String(pin.seed),
    });
    const violation = firstViolation(out);
    const ok = code !== 0 && violation !== undefined;
    return {
      ok,
      line: `${ok ? 'catches' : 'NO LONGER CATCHES'} ${pin.mutant}: seed ${pin.seed}${pin.family ? ` (${pin.family})` : ''}${
        ok ? ` — ${violation}` : ''
      }`,
    };
  } finally {
    undo();
  }
}

async function main() {
  const args = process.argv.slice(2);
  const option = (name: string) => {
    const at = args.indexOf(`--${name}`);
    return at >= 0 ? args.splice(at, 2)[1] : undefined;
  };
  const pins = args.includes('--pins');
  const seeds = Number(option('seeds') ?? 3000);
  const family = option('family');
  const jobs = Math.max(1, Number(option('jobs') ?? 1));
  const names = args.filter((a) => !a.startsWith('--'));
  const unknown = names.filter((n) => !MUTANTS.some((m) => m.name === n));
  if (unknown.length > 0)
    throw new Error(`no mutant named ${unknown.join(', ')}; known: ${MUTANTS.map((m) => m.name).join(' ')}`);

  type Job = (dir: string) => Promise<boolean>;
  const work: Job[] = pins
    ? PINNED.map((pin) => async (dir) => {
        const { ok, line } = await checkPin(dir, pin);
        console.log(line);
        return ok;
      })
    : MUTANTS.filter((m) => names.length === 0 || names.includes(m.name)).map((mutant) => async (dir) => {
        const line = await hunt(dir, mutant, seeds, family);
        console.log(line);
        return !line.includes('NOT CAUGHT');
      });
  const started = Date.now();
  let failures = 0;
  const copies: string[] = [];
  const cleanUp = () => {
    for (const dir of copies) rmSync(dir, { recursive: true, force: true });
  };
  for (const signal of ['SIGINT', 'SIGTERM'] as const)
    process.once(signal, () => {
      cleanUp();
      process.exit(130);
    });
  try {
    for (let n = 0; n < Math.min(jobs, work.length); n++) copies.push(copyProject());
    // Each copy runs its jobs to the end, even when another's fails, before any copy is removed.
    const ends = await Promise.allSettled(
      copies.map(async (dir) => {
        for (let job = work.shift(); job; job = work.shift()) if (!(await job(dir))) failures++;
      }),
    );
    for (const end of ends) if (end.status === 'rejected') throw end.reason;
  } finally {
    cleanUp();
  }
  console.log(
    `\n${failures} ${pins ? 'pins no longer catch their bug' : 'mutants not caught'}; ${((Date.now() - started) / 1000).toFixed(0)} s`,
  );
  process.exitCode = failures > 0 ? 1 : 0;
}

main().catch((error: unknown) => {
  console.error(error instanceof Error ? error.message : error);
  process.exitCode = 1;
});
