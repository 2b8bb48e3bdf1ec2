// Alarms and the dashboard, from the metrics the functions publish (lib/metrics.ts: names; functions/common/
// metrics.ts: namespace and dimensions). Included from serverless.yml (`resources`); a test reads the template.
'use strict';

const PROVIDERS = ['lke', 'smh'];
const POLLERS = { lke: 'lkePoll', smh: 'smhPoll' };
const PERIOD = 300; // five minutes: pollers run every minute

const title = (text) => text[0].toUpperCase() + text.slice(1);

module.exports = async ({ resolveVariable }) => {
  const service = await resolveVariable('self:service');
  const stage = await resolveVariable('sls:stage');
  const namespace = service; // POWERTOOLS_METRICS_NAMESPACE
  const serviceDimension = `${service}-${stage}`; // POWERTOOLS_SERVICE_NAME: one stage's metrics apart from another's
  const param = async (name) => resolveVariable(`param:${name}`);
  const topic = String(await param('alarmTopicArn')).trim();
  const maxInterval = Number(await param('pollMaxIntervalSeconds'));
  const thresholds = {
    lagSeconds: 2 * maxInterval,
    outboxAgeSeconds: Number(await param('alarmOutboxAgeSeconds')),
    deadLetters: Number(await param('alarmDeadLetters')),
    throttledChecks: Number(await param('alarmThrottledChecks')),
    pollerErrors: Number(await param('alarmPollerErrors')),
  };
  const actions = topic ? { AlarmActions: [topic], OKActions: [topic] } : {};
  const dimensions = (provider) => [
    { Name: 'service', Value: serviceDimension },
    { Name: 'provider', Value: provider },
  ];
  const alarm = (name, description, properties) => ({
    Type: 'AWS::CloudWatch::Alarm',
    Properties: {
      AlarmName: `${service}-${stage}-${name}`,
      AlarmDescription: description,
      Period: PERIOD,
      TreatMissingData: 'notBreaching',
      ...actions,
      ...properties,
    },
  });

  const Resources = {};
  for (const provider of PROVIDERS) {
    const P = title(provider);
    const fn = POLLERS[provider];
    Resources[`${P}PollerErrorsAlarm`] = alarm(
      `${fn}-errors`,
      `${fn} failed (an error, a timeout, or StoreUnavailable): tasks are not being checked. Read its logs.`,
      {
        Namespace: 'AWS/Lambda',
        MetricName: 'Errors',
        Dimensions: [{ Name: 'FunctionName', Value: `${service}-${stage}-${fn}` }],
        Statistic: 'Sum',
        EvaluationPeriods: 1,
        Threshold: thresholds.pollerErrors,
        ComparisonOperator: 'GreaterThanOrEqualToThreshold',
      },
    );
    Resources[`${P}PollLagAlarm`] = alarm(
      `${provider}-poll-lag`,
      `${provider.toUpperCase()} checks run more than twice the longest interval late: the poller cannot keep up ` +
        '(too many tasks for its schedule, or throttling). Read the Operations section of the README.',
      {
        Namespace: namespace,
        MetricName: 'PollLagMax',
        Dimensions: dimensions(provider),
        Statistic: 'Maximum',
        EvaluationPeriods: 2,
        Threshold: thresholds.lagSeconds,
        ComparisonOperator: 'GreaterThanThreshold',
      },
    );
    Resources[`${P}OutboxAgeAlarm`] = alarm(
      `${provider}-outbox-age`,
      `A ${provider.toUpperCase()} notification has waited more than ${thresholds.outboxAgeSeconds} s: EventBridge ` +
        'or Step Functions keeps refusing it. Read the poller logs (PutEvents / SendTask failures).',
      {
        Namespace: namespace,
        MetricName: 'OutboxOldestAge',
        Dimensions: dimensions(provider),
        Statistic: 'Maximum',
        EvaluationPeriods: 1,
        Threshold: thresholds.outboxAgeSeconds,
        ComparisonOperator: 'GreaterThanThreshold',
      },
    );
    Resources[`${P}DeadLettersAlarm`] = alarm(
      `${provider}-dead-letters`,
      `A ${provider.toUpperCase()} notification was given up on: see "notification dead-lettered" in the logs and ` +
        'the record\'s "undelivered".',
      {
        Namespace: namespace,
        MetricName: 'PollDeadLettered',
        Dimensions: dimensions(provider),
        Statistic: 'Sum',
        EvaluationPeriods: 1,
        Threshold: thresholds.deadLetters,
        ComparisonOperator: 'GreaterThanThreshold',
      },
    );
    Resources[`${P}ThrottlingAlarm`] = alarm(
      `${provider}-throttling`,
      `${provider.toUpperCase()} checks were throttled for 15 minutes: the quota is used elsewhere too. Lower ` +
        'LKE_RATE_LIMIT_PER_SECOND, or find the other caller.',
      {
        Namespace: namespace,
        MetricName: 'PollThrottled',
        Dimensions: dimensions(provider),
        Statistic: 'Sum',
        EvaluationPeriods: 3,
        DatapointsToAlarm: 3,
        Threshold: thresholds.throttledChecks,
        ComparisonOperator: 'GreaterThanOrEqualToThreshold',
      },
    );
  }

  const metric = (name, provider, stat = 'Sum', extra = {}) => [
    namespace,
    name,
    'service',
    serviceDimension,
    'provider',
    provider,
    { stat, ...extra },
  ];
  const widget = (titleText, metrics, props = {}) => ({
    type: 'metric',
    width: 12,
    height: 6,
    properties: {
      title: titleText,
      region: '${AWS::Region}',
      period: PERIOD,
      view: 'timeSeries',
      metrics,
      ...props,
    },
  });
  /** Every series of a metric published with one more dimension (a status class, an error code). */
  const search = (name, dimension) =>
    `SEARCH('{${namespace},service,provider,${dimension}} MetricName="${name}" service="${serviceDimension}"', 'Sum', ${PERIOD})`;
  const byProvider = (name, stat) => PROVIDERS.map((p) => metric(name, p, stat, { label: `${p} ${name}` }));
  const body = {
    widgets: [
      widget('Checks per run (sum)', [
        ...byProvider('PollChecked', 'Sum'),
        ...byProvider('PollFinished', 'Sum'),
        ...byProvider('PollFailed', 'Sum'),
      ]),
      widget('Throttled checks', byProvider('PollThrottled', 'Sum')),
      widget(
        'Poll lag, seconds (max, p50)',
        [...byProvider('PollLagMax', 'Maximum'), ...byProvider('PollLagP50', 'Maximum')],
        {
          annotations: { horizontal: [{ label: 'alarm', value: thresholds.lagSeconds }] },
        },
      ),
      widget('Oldest owed notification, seconds', byProvider('OutboxOldestAge', 'Maximum'), {
        annotations: { horizontal: [{ label: 'alarm', value: thresholds.outboxAgeSeconds }] },
      }),
      widget('Notifications delivered / dead-lettered', [
        ...byProvider('PollNotified', 'Sum'),
        ...byProvider('PollDeadLettered', 'Sum'),
      ]),
      widget('Upstream latency, ms (p50, p99)', [
        ...PROVIDERS.map((p) => metric('UpstreamLatency', p, 'p50', { label: `${p} p50` })),
        ...PROVIDERS.map((p) => metric('UpstreamLatency', p, 'p99', { label: `${p} p99` })),
      ]),
      widget(
        'Poller errors',
        Object.values(POLLERS).map((fn) => [
          'AWS/Lambda',
          'Errors',
          'FunctionName',
          `${service}-${stage}-${fn}`,
          { stat: 'Sum' },
        ]),
      ),
      widget('Poll run duration, ms (max)', byProvider('PollDuration', 'Maximum')),
      widget('On-demand requests by status class', [
        [{ id: 'requests', label: '', expression: search('Requests', 'statusClass') }],
      ]),
      widget('Upstream errors by code', [
        [{ id: 'errors', label: '', expression: search('UpstreamErrors', 'code') }],
      ]),
    ],
  };
  Resources.OperationsDashboard = {
    Type: 'AWS::CloudWatch::Dashboard',
    Properties: {
      DashboardName: `${service}-${stage}`,
      DashboardBody: { 'Fn::Sub': JSON.stringify(body) },
    },
  };
  return { Resources };
};

module.exports.PROVIDERS = PROVIDERS;
