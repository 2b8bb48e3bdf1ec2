import type { SmhClient } from '../../lib/smh/client';
import type { SmhQueryResult, SmhTaskQuery } from '../../lib/task';
import { parseSmhTaskQuery } from '../../lib/validate';
import { smhClient } from '../common/smh-client';
import { dualHandler, type HandlerDeps } from '../common/handler';

/**
 * `GET /smh/libraries/{libraryId}/spaces/{spaceId}/tasks/{taskIds}` (space level, `-` for single-tenant),
 * `GET /smh/libraries/{libraryId}/tasks/{taskIds}` (library level), optional `?userId=`; or a direct invoke with
 * `{"libraryId","spaceId"?,"taskIds":[…],"userId"?}`: asks SMH Query Task and answers `{tasks, notFound}`.
 */
export function smhStatus(deps: HandlerDeps & { smh?: () => SmhClient } = {}) {
  const smh = deps.smh ?? smhClient;
  return dualHandler<SmhTaskQuery, SmhQueryResult>(
    {
      name: 'smhStatus',
      fromHttp: ({ pathParameters, query }) => ({
        libraryId: pathParameters.libraryId,
        spaceId: pathParameters.spaceId,
        taskIds: pathParameters.taskIds,
        userId: query.userId,
      }),
      parse: parseSmhTaskQuery,
      run: (query, { deadline, signal }) => smh().queryTasks(query, { deadline, signal }),
      summarize: (result) => ({
        tasks: result.tasks.length,
        notFound: result.notFound.length,
        statuses: result.tasks.map((t) => `${t.taskId}:${t.status}`).join(','),
      }),
    },
    deps,
  );
}

export const handler = smhStatus();
