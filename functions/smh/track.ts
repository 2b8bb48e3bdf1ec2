import type { SmhTaskQuery } from '../../lib/task';
import { toPublic, type PublicTask } from '../../lib/tracking/model';
import { smhIdentities, track } from '../../lib/tracking/service';
import type { TaskStore } from '../../lib/tracking/store';
import { parseSmhTaskQuery } from '../../lib/validate';
import { dualHandler, type HandlerDeps } from '../common/handler';
import { taskStore } from '../common/store';

interface TrackSmhResult {
  tasks: (PublicTask & { created: boolean })[];
}

/**
 * `POST /smh/tasks` `{"libraryId","spaceId"?,"taskIds":[…],"userId"?}` (or the same body by direct invoke):
 * starts tracking each task (omit `spaceId` for library-level tasks). 201 when at least one record is new, 200
 * when all were already tracked.
 */
export function trackSmh(deps: HandlerDeps & { store?: () => TaskStore } = {}) {
  const store = deps.store ?? taskStore;
  return dualHandler<SmhTaskQuery, TrackSmhResult>(
    {
      name: 'trackSmh',
      fromHttp: ({ body }) => body,
      parse: parseSmhTaskQuery,
      run: async (query) => {
        const tracked = [];
        for (const identity of smhIdentities(query)) {
          const { task, created } = await track(store(), identity);
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

export const handler = trackSmh();
