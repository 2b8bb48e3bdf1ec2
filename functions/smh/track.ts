import { ValidationError } from '../../lib/errors';
import type { SmhTaskQuery } from '../../lib/task';
import { toPublic, type PublicTask } from '../../lib/tracking/model';
import { smhIdentities, track } from '../../lib/tracking/service';
import type { TaskStore } from '../../lib/tracking/store';
import type { NotifyTarget } from '../../lib/tracking/model';
import { asRecord, parseNotify, parseSmhTaskQuery } from '../../lib/validate';
import { dualHandler, type HandlerDeps } from '../common/handler';
import { taskStore } from '../common/store';
import { containerMetrics } from '../common/metrics';
import { TRACKING_SETTINGS, settingsCheck } from '../common/settings';

interface TrackSmhResult {
  tasks: (PublicTask & { created: boolean })[];
}

/**
 * `POST /smh/tasks` `{"libraryId","spaceId"?,"taskIds":[…],"userId"?,"notify"?:{"taskToken","heartbeat"?}}` (or
 * the same body by direct invoke): starts tracking each task (omit `spaceId` for library-level tasks). 201 when
 * at least one record is new, 200 when all were already tracked. A `notify` task token needs exactly one task id
 * (one callback per execution).
 */
export function trackSmh(deps: HandlerDeps & { store?: () => TaskStore } = {}) {
  const store = deps.store ?? taskStore;
  return dualHandler<{ query: SmhTaskQuery; notify: NotifyTarget | null }, TrackSmhResult>(
    {
      name: 'trackSmh',
      fromHttp: ({ body }) => body,
      parse: (input) => {
        const query = parseSmhTaskQuery(input);
        const notify = parseNotify(asRecord(input));
        if (notify && query.taskIds.length !== 1) {
          throw new ValidationError('notify needs exactly one task id: a task token can complete only once');
        }
        return { query, notify };
      },
      run: async ({ query, notify }, invocation) => {
        const tracked = [];
        const records = store().within(invocation);
        for (const identity of smhIdentities(query)) {
          const { task, created } = await track(records, identity, notify);
          tracked.push({ ...toPublic(task), created });
        }
        return { tasks: tracked };
      },
      httpStatus: (output) => (output.tasks.some((t) => t.created) ? 201 : 200),
      summarize: (output) => ({
        tracked: output.tasks.length,
        created: output.tasks.filter((t) => t.created).length,
      }),
    },
    deps,
  );
}

export const handler = trackSmh({
  metrics: containerMetrics('smh'),
  settings: settingsCheck(TRACKING_SETTINGS),
});
