import type { LkeClient } from '../../lib/lke/client';
import type { LkeTaskStatus } from '../../lib/task';
import { parseLkeTaskQuery } from '../../lib/validate';
import { lkeClient } from '../common/lke-client';
import { dualHandler, type HandlerDeps } from '../common/handler';

/**
 * `GET /lke/tasks/{taskId}?botBizId=…&taskType=…`, or a direct invoke with `{"taskId","taskType","botBizId"}`:
 * asks LKE GetTaskStatus once and answers the normalized task.
 */
export function lkeStatus(deps: HandlerDeps & { lke?: () => LkeClient } = {}) {
  const lke = deps.lke ?? lkeClient;
  return dualHandler<ReturnType<typeof parseLkeTaskQuery>, LkeTaskStatus>(
    {
      name: 'lkeStatus',
      fromHttp: ({ pathParameters, query }) => ({ ...query, taskId: pathParameters.taskId }),
      parse: parseLkeTaskQuery,
      run: (query, { deadline, signal }) => lke().getTaskStatus(query, { deadline, signal }),
      summarize: (task) => ({
        taskId: task.taskId,
        status: task.status,
        upstreamStatus: task.upstreamStatus,
        requestId: task.requestId,
      }),
    },
    deps,
  );
}

export const handler = lkeStatus();
