import { QUERY_PARAMS } from '../../lib/contract';
import type { SmhClient } from '../../lib/smh/client';
import type { SmhQueryResult, SmhTaskQuery } from '../../lib/task';
import type { TaskStore } from '../../lib/tracking/store';
import { asRecord, parseFlag, parseSmhTaskQuery } from '../../lib/validate';
import { dualHandler, type HandlerDeps } from '../common/handler';
import { smhClient } from '../common/smh-client';
import { loadTracking, type TrackingService } from '../common/tracking';
import { containerMetrics } from '../common/metrics';
import { SMH_SETTINGS, TRACKING_SETTINGS, settingsCheck } from '../common/settings';

/**
 * `GET /smh/libraries/{libraryId}/spaces/{spaceId}/tasks/{taskIds}` (space level, `-` for single-tenant),
 * `GET /smh/libraries/{libraryId}/tasks/{taskIds}` (library level), optional `?userId=` and `?track=true`; or a
 * direct invoke with `{"libraryId","spaceId"?,"taskIds":[…],"userId"?,"track"?}`: asks SMH Query Task and
 * answers `{tasks, notFound}`. With `track=true` each unfinished task is tracked (and gains `trackingId`).
 */
export function smhStatus(
  deps: HandlerDeps & {
    smh?: () => SmhClient;
    store?: () => TaskStore | Promise<TaskStore>;
    tracking?: () => Promise<TrackingService>;
  } = {},
) {
  const smh = deps.smh ?? smhClient;
  // The store (its DynamoDB client) and the tracking code load on the first ?track=true, not on every cold start.
  const store = deps.store ?? (async () => (await import('../common/store')).taskStore());
  const tracking = deps.tracking ?? loadTracking;
  return dualHandler<{ query: SmhTaskQuery; track: boolean }, SmhQueryResult>(
    {
      name: 'smhStatus',
      query: QUERY_PARAMS.smhStatus,
      fromHttp: ({ pathParameters, query }) => ({
        libraryId: pathParameters.libraryId,
        spaceId: pathParameters.spaceId,
        taskIds: pathParameters.taskIds,
        userId: query.userId,
        track: query.track,
      }),
      parse: (input) => ({ query: parseSmhTaskQuery(input), track: parseFlag(asRecord(input), 'track') }),
      run: async ({ query, track }, invocation) => {
        const answer = await smh().queryTasks(query, invocation);
        if (!track) return answer;
        const tasks = [];
        const records = (await store()).within(invocation);
        const { observation, smhIdentity, trackReading } = await tracking();
        for (const task of answer.tasks) {
          tasks.push({
            ...task,
            ...(await trackReading(records, smhIdentity(query, task.taskId), observation(task))),
          });
        }
        return { ...answer, tasks };
      },
      summarize: (result) => ({
        tasks: result.tasks.length,
        notFound: result.notFound.length,
        statuses: result.tasks.map((t) => `${t.taskId}:${t.status}`).join(','),
      }),
    },
    deps,
  );
}

export const handler = smhStatus({
  metrics: containerMetrics('smh'),
  settings: settingsCheck(SMH_SETTINGS, TRACKING_SETTINGS),
});
