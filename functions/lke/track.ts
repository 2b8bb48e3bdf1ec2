import { toPublic, type PublicTask } from '../../lib/tracking/model';
import { lkeIdentity, track } from '../../lib/tracking/service';
import type { TaskStore } from '../../lib/tracking/store';
import type { LkeTaskQuery } from '../../lib/task';
import type { NotifyTarget } from '../../lib/tracking/model';
import { asRecord, parseLkeTaskQuery, parseNotify } from '../../lib/validate';
import { dualHandler, type HandlerDeps } from '../common/handler';
import { taskStore } from '../common/store';
import { containerMetrics } from '../common/metrics';
import { TRACKING_SETTINGS, settingsCheck } from '../common/settings';

/**
 * `POST /lke/tasks` `{"taskId","taskType","botBizId","notify"?:{"taskToken","heartbeat"?}}` (or the same body by
 * direct invoke, e.g. from a `waitForTaskToken` step): starts tracking the task. 201 with the new record, 200
 * with the stored one when it was already tracked.
 */
export function trackLke(deps: HandlerDeps & { store?: () => TaskStore } = {}) {
  const store = deps.store ?? taskStore;
  return dualHandler<{ query: LkeTaskQuery; notify: NotifyTarget | null }, PublicTask & { created: boolean }>(
    {
      name: 'trackLke',
      fromHttp: ({ body }) => body,
      parse: (input) => ({ query: parseLkeTaskQuery(input), notify: parseNotify(asRecord(input)) }),
      run: async ({ query, notify }, invocation) => {
        const { task, created } = await track(store().within(invocation), lkeIdentity(query), notify);
        return { ...toPublic(task), created };
      },
      httpStatus: (output) => (output.created ? 201 : 200),
      summarize: (output) => ({ id: output.id, created: output.created }),
    },
    deps,
  );
}

export const handler = trackLke({
  metrics: containerMetrics('lke'),
  settings: settingsCheck(TRACKING_SETTINGS),
});
