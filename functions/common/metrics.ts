import { Metrics as Powertools } from '@aws-lambda-powertools/metrics';
import type { Metrics } from '../../lib/metrics';

/** The CloudWatch namespace of every metric: the service's name (POWERTOOLS_METRICS_NAMESPACE in serverless.yml). */
export const METRICS_NAMESPACE = 'tencent-task-tracker';

export interface FunctionMetrics extends Metrics {
  /** Writes what this invocation recorded as one EMF line (none when it recorded nothing). */
  publish(): void;
}

/**
 * A function's metrics through Powertools: dimensions `service` and `provider` (`lke`, `smh`, or `all` for the
 * functions that serve both). Embedded Metric Format lines go to stdout, where CloudWatch Logs turns them into
 * metrics on AWS, and where you can read them as they are under `npm start`.
 */
export function metricsFor(provider: 'lke' | 'smh' | 'all'): FunctionMetrics {
  const metrics = new Powertools({
    namespace: process.env.POWERTOOLS_METRICS_NAMESPACE ?? METRICS_NAMESPACE,
    serviceName: process.env.POWERTOOLS_SERVICE_NAME ?? METRICS_NAMESPACE,
    defaultDimensions: { provider },
  });
  let stored = 0;
  return {
    add(name, unit, value) {
      metrics.addMetric(name, unit, value);
      stored++;
    },
    addWith(dimensions, name, unit, value) {
      const single = metrics.singleMetric();
      single.addDimensions(dimensions);
      single.addMetric(name, unit, value);
    },
    publish() {
      if (stored === 0) return;
      stored = 0;
      metrics.publishStoredMetrics();
    },
  };
}

const byProvider = new Map<string, FunctionMetrics>();

/** One metrics object per provider and container, shared by the handler and the clients it uses. */
export function containerMetrics(provider: 'lke' | 'smh' | 'all'): FunctionMetrics {
  let metrics = byProvider.get(provider);
  if (!metrics) byProvider.set(provider, (metrics = metricsFor(provider)));
  return metrics;
}
