import { NotFoundError } from '../../lib/errors';
import { toPublic, type PublicTask } from '../../lib/tracking/model';
import type { TaskStore } from '../../lib/tracking/store';
import { parseTrackingId } from '../../lib/validate';
import { dualHandler, type HandlerDeps } from '../common/handler';
import { taskStore } from '../common/store';
import { containerMetrics } from '../common/metrics';
import { TRACKING_SETTINGS, settingsCheck } from '../common/settings';

/** `GET /tasks/{id}` (or `{"id"}` by direct invoke): a tracked task with its history. */
export function getTask(deps: HandlerDeps & { store?: () => TaskStore } = {}) {
  const store = deps.store ?? taskStore;
  return dualHandler<string, PublicTask>(
    {
      name: 'getTask',
      fromHttp: ({ pathParameters }) => ({ id: pathParameters.id }),
      parse: parseTrackingId,
      run: async (id, invocation) => {
        const task = await store().within(invocation).get(id);
        if (!task) throw new NotFoundError(`No tracked task has the id ${id}`, 'TaskNotTracked');
        return toPublic(task);
      },
      summarize: (task) => ({ id: task.id, status: task.status }),
    },
    deps,
  );
}

export const handler = getTask({
  metrics: containerMetrics('all'),
  settings: settingsCheck(TRACKING_SETTINGS),
});
