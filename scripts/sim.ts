import { simulate } from '../test/sim/world';
import type { Family } from '../test/sim/scenario';

/**
 * `npm run sim -- --seeds N [--from S] [--family F] [--quiet] [--stop]`: runs N seeds of the simulation (test/sim)
 * and prints each failing seed with its violations and the trace that led there (`--quiet`: without the trace;
 * `--stop`: stop at the first failing seed). `SIM_SEED=S npm run sim [-- --family F]` replays
 * one seed step by step (with the family it ran with, when it was named). Exits 1 when any seed broke a rule.
 */
async function main() {
  const args = process.argv.slice(2);
  const option = (name: string) => {
    const at = args.indexOf(`--${name}`);
    return at >= 0 ? args[at + 1] : undefined;
  };
  const flag = (name: string) => args.includes(`--${name}`);
  const family = option('family') as Family | undefined;
  const replay = process.env.SIM_SEED;
  if (replay !== undefined) {
    const result = await simulate({ seed: Number(replay), family, print: (line) => console.log(line) });
    console.log(
      `\nseed ${result.seed} (${result.family}): ${result.steps} steps, ${JSON.stringify(result.stats)}`,
    );
    for (const v of result.violations) console.log(v);
    process.exitCode = result.violations.length > 0 ? 1 : 0;
    return;
  }
  const seeds = Number(option('seeds') ?? 100);
  const from = Number(option('from') ?? 1);
  const started = Date.now();
  let failed = 0;
  const families: Record<string, number> = {};
  const seconds: Record<string, number> = {};
  for (let seed = from; seed < from + seeds; seed++) {
    const began = Date.now();
    const result = await simulate({ seed, family });
    families[result.family] = (families[result.family] ?? 0) + 1;
    seconds[result.family] = (seconds[result.family] ?? 0) + (Date.now() - began) / 1000;
    if (result.violations.length > 0) {
      failed++;
      console.log(`\nseed ${seed} (${result.family}) FAILED — replay: ${result.replay}`);
      for (const v of result.violations.slice(0, 10)) console.log(`  ${v}`);
      if (!flag('quiet')) console.log(result.tail.slice(-40).join('\n'));
      if (flag('stop')) break;
    }
    if ((seed - from + 1) % 100 === 0)
      console.log(
        `${seed - from + 1} seeds, ${failed} failed, ${((Date.now() - started) / 1000).toFixed(0)} s`,
      );
  }
  const total = ((Date.now() - started) / 1000).toFixed(1);
  const perFamily = Object.entries(families)
    .map(([name, n]) => `${name} ${n} (${((seconds[name] ?? 0) / n).toFixed(2)} s each)`)
    .join(', ');
  console.log(`\n${seeds} seeds from ${from} in ${total} s: ${failed} failed; ${perFamily}`);
  process.exitCode = failed > 0 ? 1 : 0;
}

void main();
