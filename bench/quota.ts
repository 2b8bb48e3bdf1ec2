/**
 * `npm run bench:quota`: the shared LKE quota under `npm start`, as a user would see it.
 *
 * A separate Tencent stand-in (the sandbox in its own process) enforces 20 requests per sliding second per
 * account and answers after 150 ms ± 30 %. `npm start` runs against it with its own dynalite. 2,000 tasks are
 * tracked (BENCH_QUOTA_TASKS), then three lkePoll invocations start at once and, 5 s later, a burst of 100
 * on-demand GETs (BENCH_QUOTA_BURST). Reported: RequestLimitExceeded received, the fullest sliding second, calls
 * per second from the first call to the last, the on-demand outcomes and their slowest answer.
 */
import { mapLimit } from '../lib/concurrency';
import { startLocalRun } from '../test/helpers/local-run';
import { sandboxProcess } from '../test/helpers/sandbox-process';

const TASKS = Number(process.env.BENCH_QUOTA_TASKS ?? 2000);
const BURST = Number(process.env.BENCH_QUOTA_BURST ?? 100);
const BOT = '1767024172536168448';
const ID = 'AKIDquotaBench';
const KEY = 'quota-bench-key';

async function main() {
  const tencent = await sandboxProcess(ID, KEY, 150);
  const run = await startLocalRun({
    TENCENTCLOUD_SECRET_ID: ID,
    TENCENTCLOUD_SECRET_KEY: KEY,
    LKE_ENDPOINT: tencent.url,
    DATA_DIR: `${process.env.TMPDIR ?? '/tmp'}/ttt-bench-quota-${Date.now()}`,
    POWERTOOLS_LOG_LEVEL: 'WARN',
  });
  try {
    process.stdout.write(`tracking ${TASKS} tasks… `);
    await mapLimit(
      Array.from({ length: TASKS }, (_, n) => String(100_000 + n)),
      8,
      async (taskId) => {
        const task = { botBizId: BOT, taskType: 'ExportAttributeLabel', taskId };
        await tencent.setLkeTask({ ...task, status: 'RUNNING' });
        const response = await fetch(`${run.baseUrl}/lke/tasks`, {
          method: 'POST',
          body: JSON.stringify(task),
        });
        if (response.status >= 300) throw new Error(`tracking answered ${response.status}`);
      },
    );
    // serverless-offline gives each concurrent invocation its own worker, as Lambda gives each its own container:
    // a first burst boots them (cold starts, seconds on a small machine); the measured burst finds them warm.
    const burstOnce = () =>
      Promise.all(
        Array.from({ length: BURST }, async () => {
          const started = Date.now();
          const response = await fetch(
            `${run.baseUrl}/lke/tasks/8?botBizId=${BOT}&taskType=ModifyAttributeLabel`,
          );
          // serverless-offline answers a Lambda timeout with HTTP 200 and {"errorType":…}: not a served call.
          const body = await response.text();
          const status = body.includes('"errorType"') ? 'lambda-error' : response.status;
          return { status, ms: Date.now() - started };
        }),
      );
    const cold = BURST > 0 ? await burstOnce() : [];
    if (cold.length > 0)
      process.stdout.write(
        `warm-up burst (cold workers): slowest answer ${Math.max(...cold.map((b) => b.ms))} ms\n`,
      );
    await tencent.resetCounters(); // the counters below are the measured phase's
    process.stdout.write('done\nthree lkePoll runs at once, then a burst of on-demand calls…\n');
    const invoke = () =>
      fetch(`${run.lambdaUrl}/2015-03-31/functions/tencent-task-tracker-local-lkePoll/invocations`, {
        method: 'POST',
        body: '{}',
      }).then((r) => r.json() as Promise<{ checked?: number; throttled?: number }>);
    const polls = [invoke(), invoke(), invoke()];
    await new Promise((resolve) => setTimeout(resolve, 5_000));
    const burst = await burstOnce();
    const summaries = await Promise.all(polls);
    const after = await tencent.counters();
    // The quota's own part of each on-demand wait, from the functions' metrics (EMF lines in npm start's output).
    const quotaWaits = run
      .output()
      .split('\n')
      .filter((line) => line.includes('"QuotaWaitOnDemand"'))
      .flatMap((line) => [JSON.parse(line.slice(line.indexOf('{'))).QuotaWaitOnDemand].flat() as number[]);
    const warnings = run
      .output()
      .split('\n')
      .filter((line) => /"level":"(WARN|ERROR)"/.test(line))
      .map((line) => (JSON.parse(line.slice(line.indexOf('{'))) as { message: string }).message);
    const warned = [...new Set(warnings)].map((m) => `${warnings.filter((w) => w === m).length}× ${m}`);
    const byStatus = burst.reduce<Record<string, number>>(
      (m, b) => ({ ...m, [b.status]: (m[b.status] ?? 0) + 1 }),
      {},
    );
    const served = burst.filter((b) => b.status === 200).map((b) => b.ms);
    process.stdout.write(
      [
        `upstream calls: ${after.requests}, RequestLimitExceeded: ${after.throttled}`,
        `fullest sliding second: ${after.peakPerSecond} (limit 20)`,
        `calls per second, first call to last: ${after.perSecond.toFixed(1)} (goal ≥ 18)`,
        `checks by the three runs: ${summaries.map((s) => s.checked).join(' + ')} (throttled: ${summaries.map((s) => s.throttled).join(', ')})`,
        `on-demand: ${JSON.stringify(byStatus)}; slowest 200: ${Math.max(0, ...served)} ms; slowest answer: ${Math.max(...burst.map((b) => b.ms))} ms`,
        `on-demand waits for the quota (QuotaWaitOnDemand, ${quotaWaits.length} calls): longest ${Math.max(0, ...quotaWaits)} ms (goal ≤ 2000)`,
        `warnings and errors logged: ${warned.length ? warned.join('; ') : 'none'}`,
      ].join('\n') + '\n',
    );
  } finally {
    await run.stop();
    await tencent.stop();
  }
}

main().catch((error: unknown) => {
  console.error(error);
  process.exit(1);
});
