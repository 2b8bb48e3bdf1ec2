import { QUERY_PARAMS } from '../../lib/contract';
import { toPublic, type PublicTask } from '../../lib/tracking/model';
import type { TaskStore } from '../../lib/tracking/store';
import { parseListQuery } from '../../lib/validate';
import { dualHandler, type HandlerDeps } from '../common/handler';
import { taskStore } from '../common/store';
import { containerMetrics } from '../common/metrics';
import { TRACKING_SETTINGS, settingsCheck } from '../common/settings';

/**
 * `GET /tasks?provider=&status=&limit=&nextToken=` (or the same fields by direct invoke): a page of tracked
 * tasks (by provider, then status, newest first within a status) and a `nextToken` while there are more.
 */
export function listTasks(deps: HandlerDeps & { store?: () => TaskStore } = {}) {
  const store = deps.store ?? taskStore;
  return dualHandler<ReturnType<typeof parseListQuery>, { items: PublicTask[]; nextToken?: string }>(
    {
      name: 'listTasks',
      query: QUERY_PARAMS.listTasks,
      fromHttp: ({ query }) => query,
      parse: parseListQuery,
      run: async (query, invocation) => {
        const page = await store().within(invocation).list(query);
        return page.nextToken
          ? { items: page.items.map(toPublic), nextToken: page.nextToken }
          : { items: page.items.map(toPublic) };
      },
      summarize: (page) => ({ items: page.items.length, more: page.nextToken !== undefined }),
    },
    deps,
  );
}

export const handler = listTasks({
  metrics: containerMetrics('all'),
  settings: settingsCheck(TRACKING_SETTINGS),
});
