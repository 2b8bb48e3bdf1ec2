import { METRIC, type Metrics } from '../../lib/metrics';
import { poll, type PollerDeps, type PollSummary } from '../../lib/tracking/poller';
import { dualHandler, type HandlerDeps } from './handler';

export type PollHandlerDeps = HandlerDeps & { poller?: () => PollerDeps };

/** What a poll run says to CloudWatch: its counts, how late its checks were, how old its oldest owed notification. */
export function recordPoll(metrics: Metrics, summary: PollSummary): void {
  const counts: [string, number][] = [
    [METRIC.pollClaimed, summary.claimed],
    [METRIC.pollChecked, summary.checked],
    [METRIC.pollChanged, summary.changed],
    [METRIC.pollFinished, summary.finished],
    [METRIC.pollFailed, summary.failed],
    [METRIC.pollThrottled, summary.throttled],
    [METRIC.pollNotified, summary.notified],
    [METRIC.pollDeadLettered, summary.deadLettered],
  ];
  for (const [name, value] of counts) metrics.add(name, 'Count', value);
  metrics.add(METRIC.pollDuration, 'Milliseconds', summary.durationMs);
  metrics.add(METRIC.pollLagMax, 'Seconds', summary.lagMaxMs / 1000);
  metrics.add(METRIC.pollLagP50, 'Seconds', summary.lagP50Ms / 1000);
  metrics.add(METRIC.outboxOldestAge, 'Seconds', summary.outboxOldestAgeMs / 1000);
}

/**
 * A poller function: runs on its schedule (the EventBridge event's content is ignored) or by direct invoke,
 * within the invocation's remaining time, and returns (and logs, and publishes as metrics) the run's summary.
 */
export function pollHandler(name: string, defaults: () => PollerDeps, deps: PollHandlerDeps = {}) {
  const pollerDeps = deps.poller ?? defaults;
  const { metrics } = deps;
  return dualHandler<unknown, PollSummary>(
    {
      name,
      fromHttp: () => ({}),
      parse: (input) => input,
      run: async (_input, { deadline, signal }) => {
        try {
          const summary = await poll(pollerDeps(), { deadline, signal });
          if (metrics) recordPoll(metrics, summary);
          return summary;
        } catch (error) {
          metrics?.add(METRIC.pollErrors, 'Count', 1);
          throw error;
        }
      },
      summarize: (summary) => ({ ...summary }),
    },
    { ...deps, countRequests: false },
  );
}
