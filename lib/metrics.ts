/**
 * The metrics surface lib code needs; functions give it Powertools Metrics (CloudWatch Embedded Metric Format
 * lines on stdout, `functions/common/metrics.ts`), tests a capture. Names are the service's contract with its
 * alarms and dashboard (`infra/monitoring.js`): change them together.
 */
export type MetricUnit = 'Count' | 'Milliseconds' | 'Seconds';

export interface Metrics {
  /** A value under the function's own dimensions (`service`, `provider`). */
  add(name: string, unit: MetricUnit, value: number): void;
  /** A value with extra dimensions (an upstream error code, a status class), published on its own. */
  addWith(dimensions: Record<string, string>, name: string, unit: MetricUnit, value: number): void;
}

export const silentMetrics: Metrics = { add() {}, addWith() {} };

/** The names the alarms and the dashboard read. */
export const METRIC = {
  pollClaimed: 'PollClaimed',
  pollChecked: 'PollChecked',
  pollChanged: 'PollChanged',
  pollFinished: 'PollFinished',
  pollFailed: 'PollFailed',
  pollThrottled: 'PollThrottled',
  pollNotified: 'PollNotified',
  pollDeadLettered: 'PollDeadLettered',
  pollDuration: 'PollDuration',
  pollErrors: 'PollErrors',
  pollLagMax: 'PollLagMax',
  pollLagP50: 'PollLagP50',
  outboxOldestAge: 'OutboxOldestAge',
  upstreamLatency: 'UpstreamLatency',
  quotaWaitOnDemand: 'QuotaWaitOnDemand',
  quotaWaitPoll: 'QuotaWaitPoll',
  quotaFailedOpen: 'QuotaFailedOpen',
  upstreamErrors: 'UpstreamErrors',
  requests: 'Requests',
} as const;

/** Records one upstream attempt: its latency, and its error by code (the upstream's code, else ours). */
export function recordUpstream(metrics: Metrics, started: number, error?: unknown): void {
  metrics.add(METRIC.upstreamLatency, 'Milliseconds', Date.now() - started);
  if (error === undefined) return;
  const { upstreamCode, code } = error as { upstreamCode?: string; code?: string };
  metrics.addWith({ code: upstreamCode ?? code ?? 'InternalError' }, METRIC.upstreamErrors, 'Count', 1);
}
