import { toPublic, type PublicTask } from '../../lib/tracking/model';
import { lkeIdentity, track } from '../../lib/tracking/service';
import type { TaskStore } from '../../lib/tracking/store';
import { parseLkeTaskQuery } from '../../lib/validate';
import { dualHandler, type HandlerDeps } from '../common/handler';
import { taskStore } from '../common/store';

/**
 * `POST /lke/tasks` `{"taskId","taskType","botBizId"}` (or the same body by direct invoke): starts tracking the
 * task. 201 with the new record, 200 with the stored one when it was already tracked.
 */
export function trackLke(deps: HandlerDeps & { store?: () => TaskStore } = {}) {
  const store = deps.store ?? taskStore;
  return dualHandler<ReturnType<typeof parseLkeTaskQuery>, PublicTask & { created: boolean }>(
    {
      name: 'trackLke',
      fromHttp: ({ body }) => body,
      parse: parseLkeTaskQuery,
      run: async (query) => {
        const { task, created } = await track(store(), lkeIdentity(query));
        return { ...toPublic(task), created };
      },
      httpStatus: (output) => (output.created ? 201 : 200),
      summarize: (output) => ({ id: output.id, created: output.created }),
    },
    deps,
  );
}

export const handler = trackLke();
