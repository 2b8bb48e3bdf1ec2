import { NotFoundError } from '../../lib/errors';
import { toPublic, type PublicTask } from '../../lib/tracking/model';
import { untrackTask as untrackRecord } from '../../lib/tracking/service';
import type { TaskStore } from '../../lib/tracking/store';
import { parseTrackingId } from '../../lib/validate';
import { dualHandler, type HandlerDeps } from '../common/handler';
import { containerMetrics } from '../common/metrics';
import { TRACKING_SETTINGS, settingsCheck } from '../common/settings';
import { taskStore } from '../common/store';

/**
 * `DELETE /tasks/{id}` (or `{"id"}` by direct invoke): stops tracking a task. It is no longer checked, ends
 * `untracked`, and its waiting executions get `SendTaskFailure` `TaskUntracked`, delivered by the pollers from
 * the record's outbox (this function holds no hand-over permission). Idempotent: a finished or already untracked
 * task is answered as it is. It does not cancel the Tencent task.
 */
export function untrackTask(deps: HandlerDeps & { store?: () => TaskStore } = {}) {
  const store = deps.store ?? taskStore;
  return dualHandler<string, PublicTask>(
    {
      name: 'untrackTask',
      fromHttp: ({ pathParameters }) => ({ id: pathParameters.id }),
      parse: parseTrackingId,
      run: async (id, invocation) => {
        const task = await untrackRecord(store().within(invocation), id, invocation.awsRequestId);
        if (!task) throw new NotFoundError(`No tracked task has the id ${id}`, 'TaskNotTracked');
        return toPublic(task);
      },
      summarize: (task) => ({ id: task.id, status: task.status }),
    },
    deps,
  );
}

export const handler = untrackTask({
  metrics: containerMetrics('all'),
  settings: settingsCheck(TRACKING_SETTINGS),
});
