import { QUERY_PARAMS } from '../../lib/contract';
import type { LkeClient } from '../../lib/lke/client';
import type { LkeTaskQuery, LkeTaskStatus } from '../../lib/task';
import type { TrackingNote } from '../../lib/tracking/service';
import { loadTracking, type TrackingService } from '../common/tracking';
import type { TaskStore } from '../../lib/tracking/store';
import { asRecord, parseFlag, parseLkeTaskQuery } from '../../lib/validate';
import { dualHandler, type HandlerDeps } from '../common/handler';
import { lkeClient } from '../common/lke-client';
import { containerMetrics } from '../common/metrics';
import { LKE_SETTINGS, TRACKING_SETTINGS, settingsCheck } from '../common/settings';

/**
 * `GET /lke/tasks/{taskId}?botBizId=…&taskType=…[&track=true]`, or a direct invoke with
 * `{"taskId","taskType","botBizId","track"?}`: asks LKE GetTaskStatus once and answers the normalized task.
 * With `track=true` an unfinished task is tracked from then on (the answer gains `trackingId`), and a tracked
 * one is brought up to date; if the table is unavailable, the answer comes with `trackingError` instead.
 */
export function lkeStatus(
  deps: HandlerDeps & {
    lke?: () => LkeClient;
    store?: () => TaskStore | Promise<TaskStore>;
    tracking?: () => Promise<TrackingService>;
  } = {},
) {
  const lke = deps.lke ?? lkeClient;
  // The store (its DynamoDB client) and the tracking code load on the first ?track=true, not on every cold start.
  const store = deps.store ?? (async () => (await import('../common/store')).taskStore());
  const tracking = deps.tracking ?? loadTracking;
  return dualHandler<{ query: LkeTaskQuery; track: boolean }, LkeTaskStatus & TrackingNote>(
    {
      name: 'lkeStatus',
      query: QUERY_PARAMS.lkeStatus,
      fromHttp: ({ pathParameters, query }) => ({ ...query, taskId: pathParameters.taskId }),
      parse: (input) => ({ query: parseLkeTaskQuery(input), track: parseFlag(asRecord(input), 'track') }),
      run: async ({ query, track }, invocation) => {
        const task = await lke().getTaskStatus(query, invocation);
        if (!track) return task;
        const records = (await store()).within(invocation);
        const { lkeIdentity, observation, trackReading } = await tracking();
        return { ...task, ...(await trackReading(records, lkeIdentity(query), observation(task))) };
      },
      summarize: (task) => ({
        taskId: task.taskId,
        status: task.status,
        upstreamStatus: task.upstreamStatus,
        requestId: task.requestId,
        trackingId: task.trackingId,
        trackingError: task.trackingError?.code,
      }),
    },
    deps,
  );
}

export const handler = lkeStatus({
  metrics: containerMetrics('lke'),
  settings: settingsCheck(LKE_SETTINGS, TRACKING_SETTINGS),
});
