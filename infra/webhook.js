// Webhook delivery by EventBridge (README, Hand-over, "Webhooks"). With the stage param `webhookUrl` set, a rule on
// the bus sends the chosen detail-types to an API destination: EventBridge makes the HTTPS request, retries it,
// holds to the rate limit and puts what it could not deliver in a dead-letter queue. No code of ours delivers.
// Without `webhookUrl`, nothing of this is created. Included from serverless.yml (`resources`); a test packages it.
'use strict';

const { URL } = require('node:url');

/**
 * The hand-over's event source and detail-types, as lib/handover/payloads.ts publishes them (EVENT_SOURCE,
 * CHANGED_DETAIL_TYPE, TERMINAL_DETAIL_TYPES). serverless loads this file with plain Node, which cannot import
 * TypeScript; test/infra/webhook.test.ts fails when the two lists differ.
 */
const EVENT_SOURCE = 'tencent-task-tracker';
const CHANGED_DETAIL_TYPE = 'Task Status Changed';
const TERMINAL_DETAIL_TYPES = ['Task Succeeded', 'Task Failed', 'Task Expired', 'Task Untracked'];
const DETAIL_TYPES = [CHANGED_DETAIL_TYPE, ...TERMINAL_DETAIL_TYPES];

/** EventBridge's own maxima (24 hours, 185 attempts), written out so that a change of its defaults changes nothing. */
const RETRY_POLICY = { MaximumRetryAttempts: 185, MaximumEventAgeInSeconds: 86_400 };
/** SQS's longest retention: 14 days to notice the alarm and replay (README, "Replaying the dead-letter queue"). */
const DEAD_LETTER_RETENTION_SECONDS = 14 * 24 * 3600;
/**
 * EventBridge requires every connection to authorize (CreateConnection: AuthorizationType and AuthParameters are
 * required). Without `webhookAuthSecret` the connection sends this header, naming the deployment: it is not a
 * secret and proves nothing to the receiver.
 */
const UNAUTHENTICATED_HEADER = 'X-Tencent-Task-Tracker';

/** An HTTP header name (RFC 9110 token), as EventBridge accepts it for an API key. */
const HEADER_NAME = /^[!#$%&'*+.^_`|~0-9A-Za-z-]{1,512}$/;
/**
 * What may follow `secretsmanager:` in a dynamic reference: a secret's name or ARN, optionally with
 * `:SecretString:<json-key>[:<version-stage>[:<version-id>]]` (never `{`, `}`, spaces or a value).
 */
const SECRET_REFERENCE = /^[A-Za-z0-9/_+=.@-][A-Za-z0-9/_+=.@:-]*$/;

/**
 * AWS::Events::ApiDestination's InvocationRateLimitPerSecond: an Integer of at least 1 (CloudFormation template
 * reference; EventBridge API reference, CreateApiDestination: "Valid Range: Minimum value of 1"), and an API integer
 * is 32-bit. No maximum is documented: 300 per second is EventBridge's default quota per destination (adjustable in
 * Service Quotas), above which invocations are delayed, not refused.
 */
const RATE_LIMIT = { min: 1, max: 2_147_483_647 };

/** AWS::Events::ApiDestination's InvocationEndpoint pattern (CloudFormation template reference). */
const INVOCATION_ENDPOINT = /^((%[0-9A-Fa-f]{2}|[-()_.!~*';/?:@&=+$,A-Za-z0-9])+)([).!';/?:,])?$/;

const text = (value) => (value === undefined || value === null ? '' : String(value).trim());

/** The detail-types a `webhookDetailTypes` value names: `terminal`, `all`, or a comma-separated list. */
function detailTypesOf(value) {
  const given = text(value) || 'terminal';
  if (given === 'terminal') return [...TERMINAL_DETAIL_TYPES];
  if (given === 'all') return [...DETAIL_TYPES];
  const names = [
    ...new Set(
      given
        .split(',')
        .map((name) => name.trim())
        .filter(Boolean),
    ),
  ];
  const unknown = names.filter((name) => !DETAIL_TYPES.includes(name));
  if (names.length === 0 || unknown.length > 0) {
    throw new Error(
      `webhookDetailTypes: ${unknown.length > 0 ? `unknown detail-type ${JSON.stringify(unknown[0])}` : 'empty'}; ` +
        `give "terminal", "all" or a comma-separated list of ${DETAIL_TYPES.map((t) => `"${t}"`).join(', ')}`,
    );
  }
  return names;
}

/** The webhook's settings from the stage params, checked; null when `webhookUrl` is not set. */
function webhookSettings(params) {
  const url = text(params.webhookUrl);
  if (!url) return null;
  let parsed;
  try {
    parsed = new URL(url);
  } catch {
    throw new Error(`webhookUrl: not a URL: ${JSON.stringify(url)}`);
  }
  if (parsed.protocol !== 'https:') {
    throw new Error('webhookUrl: EventBridge API destinations call HTTPS endpoints only (https://…)');
  }
  if (!INVOCATION_ENDPOINT.test(url)) {
    throw new Error(
      `webhookUrl: EventBridge does not accept this URL (percent-encode what is not a URL character): ${url}`,
    );
  }
  if (parsed.username || parsed.password) {
    throw new Error(
      'webhookUrl: no credentials in the URL (the template and DescribeApiDestination show it); ' +
        "put the receiver's token in a Secrets Manager secret and name it with webhookAuthSecret",
    );
  }
  const givenRate = text(params.webhookRateLimit);
  const rateLimit = /^[0-9]{1,10}$/.test(givenRate) ? Number(givenRate) : NaN;
  if (!(rateLimit >= RATE_LIMIT.min && rateLimit <= RATE_LIMIT.max)) {
    throw new Error(
      `webhookRateLimit: a whole number of requests per second from ${RATE_LIMIT.min} to ${RATE_LIMIT.max}, ` +
        `as AWS::Events::ApiDestination's InvocationRateLimitPerSecond accepts (got "${params.webhookRateLimit}")`,
    );
  }
  const authSecret = text(params.webhookAuthSecret);
  if (authSecret && !SECRET_REFERENCE.test(authSecret)) {
    throw new Error(
      'webhookAuthSecret: the name or ARN of a Secrets Manager secret (optionally followed by ' +
        ':SecretString:<json-key>), never its value',
    );
  }
  const authHeader = text(params.webhookAuthHeader) || 'Authorization';
  if (!HEADER_NAME.test(authHeader)) {
    throw new Error(`webhookAuthHeader: not an HTTP header name: ${JSON.stringify(authHeader)}`);
  }
  return {
    url,
    detailTypes: detailTypesOf(params.webhookDetailTypes),
    rateLimit,
    auth: authSecret ? { header: authHeader, secret: authSecret } : null,
  };
}

/** The CloudFormation resources of a webhook (none without settings). */
function webhookResources({ service, stage, eventBusName, alarmTopicArn, settings }) {
  if (!settings) return {};
  const name = `${service}-${stage}-webhook`;
  const queueName = `${name}-dlq`;
  const getAtt = (logicalId, attribute) => ({ 'Fn::GetAtt': [logicalId, attribute] });
  const actions = alarmTopicArn ? { AlarmActions: [alarmTopicArn], OKActions: [alarmTopicArn] } : {};
  const apiKey = settings.auth
    ? {
        ApiKeyName: settings.auth.header,
        // Resolved by CloudFormation when it creates or updates the connection; EventBridge keeps the value in a
        // secret of its own. The template holds only the reference.
        ApiKeyValue: `{{resolve:secretsmanager:${settings.auth.secret}}}`,
      }
    : { ApiKeyName: UNAUTHENTICATED_HEADER, ApiKeyValue: `${service}-${stage}` };
  return {
    WebhookConnection: {
      Type: 'AWS::Events::Connection',
      Properties: {
        Name: name,
        Description: settings.auth
          ? `Authorizes webhook requests with the ${settings.auth.header} header`
          : `No authorization: webhook requests carry ${UNAUTHENTICATED_HEADER} (not a secret)`,
        AuthorizationType: 'API_KEY',
        AuthParameters: { ApiKeyAuthParameters: apiKey },
      },
    },
    WebhookApiDestination: {
      Type: 'AWS::Events::ApiDestination',
      Properties: {
        Name: name,
        Description: `Task events of ${service}-${stage}, POSTed as EventBridge events`,
        ConnectionArn: getAtt('WebhookConnection', 'Arn'),
        InvocationEndpoint: settings.url,
        HttpMethod: 'POST',
        InvocationRateLimitPerSecond: settings.rateLimit,
      },
    },
    // EventBridge assumes this role to call the destination: it may invoke that one destination, nothing else.
    WebhookRole: {
      Type: 'AWS::IAM::Role',
      Properties: {
        AssumeRolePolicyDocument: {
          Version: '2012-10-17',
          Statement: [
            { Effect: 'Allow', Principal: { Service: ['events.amazonaws.com'] }, Action: ['sts:AssumeRole'] },
          ],
        },
        Policies: [
          {
            PolicyName: 'webhook-invoke-api-destination',
            PolicyDocument: {
              Version: '2012-10-17',
              Statement: [
                {
                  Effect: 'Allow',
                  Action: ['events:InvokeApiDestination'],
                  Resource: getAtt('WebhookApiDestination', 'Arn'),
                },
              ],
            },
          },
        ],
      },
    },
    WebhookRule: {
      Type: 'AWS::Events::Rule',
      Properties: {
        Name: name,
        Description: `Sends ${settings.detailTypes.join(', ')} to the webhook`,
        EventBusName: eventBusName,
        State: 'ENABLED',
        EventPattern: { source: [EVENT_SOURCE], 'detail-type': settings.detailTypes },
        Targets: [
          {
            Id: 'webhook',
            Arn: getAtt('WebhookApiDestination', 'Arn'),
            RoleArn: getAtt('WebhookRole', 'Arn'),
            RetryPolicy: RETRY_POLICY,
            DeadLetterConfig: { Arn: getAtt('WebhookDeadLetterQueue', 'Arn') },
          },
        ],
      },
    },
    WebhookDeadLetterQueue: {
      Type: 'AWS::SQS::Queue',
      Properties: {
        QueueName: queueName,
        MessageRetentionPeriod: DEAD_LETTER_RETENTION_SECONDS,
        SqsManagedSseEnabled: true,
      },
    },
    // Only this rule may put events in the queue (EventBridge sends as events.amazonaws.com).
    WebhookDeadLetterQueuePolicy: {
      Type: 'AWS::SQS::QueuePolicy',
      Properties: {
        Queues: [{ Ref: 'WebhookDeadLetterQueue' }],
        PolicyDocument: {
          Version: '2012-10-17',
          Statement: [
            {
              Sid: 'WebhookRuleDeadLetters',
              Effect: 'Allow',
              Principal: { Service: 'events.amazonaws.com' },
              Action: 'sqs:SendMessage',
              Resource: getAtt('WebhookDeadLetterQueue', 'Arn'),
              Condition: { ArnEquals: { 'aws:SourceArn': getAtt('WebhookRule', 'Arn') } },
            },
          ],
        },
      },
    },
    WebhookDeadLettersAlarm: {
      Type: 'AWS::CloudWatch::Alarm',
      Properties: {
        AlarmName: `${name}-dead-letters`,
        AlarmDescription:
          `EventBridge gave up delivering an event to the webhook: it is in the SQS queue ${queueName} ` +
          '(its attributes say why). Fix the receiver, then replay: README, "Replaying the dead-letter queue".',
        Namespace: 'AWS/SQS',
        MetricName: 'ApproximateNumberOfMessagesVisible',
        Dimensions: [{ Name: 'QueueName', Value: getAtt('WebhookDeadLetterQueue', 'QueueName') }],
        Statistic: 'Maximum',
        Period: 300,
        EvaluationPeriods: 1,
        Threshold: 0,
        ComparisonOperator: 'GreaterThanThreshold',
        TreatMissingData: 'notBreaching',
        ...actions,
      },
    },
  };
}

module.exports = async ({ resolveVariable }) => {
  const param = (name) => resolveVariable(`param:${name}`);
  const settings = webhookSettings({
    webhookUrl: await param('webhookUrl'),
    webhookDetailTypes: await param('webhookDetailTypes'),
    webhookAuthHeader: await param('webhookAuthHeader'),
    webhookAuthSecret: await param('webhookAuthSecret'),
    webhookRateLimit: await param('webhookRateLimit'),
  });
  if (!settings) return { Resources: {} };
  return {
    Resources: webhookResources({
      service: await resolveVariable('self:service'),
      stage: await resolveVariable('sls:stage'),
      eventBusName: text(await param('eventBusName')) || 'default',
      alarmTopicArn: text(await param('alarmTopicArn')),
      settings,
    }),
  };
};

module.exports.EVENT_SOURCE = EVENT_SOURCE;
module.exports.CHANGED_DETAIL_TYPE = CHANGED_DETAIL_TYPE;
module.exports.TERMINAL_DETAIL_TYPES = TERMINAL_DETAIL_TYPES;
module.exports.RETRY_POLICY = RETRY_POLICY;
module.exports.RATE_LIMIT = RATE_LIMIT;
module.exports.UNAUTHENTICATED_HEADER = UNAUTHENTICATED_HEADER;
module.exports.webhookSettings = webhookSettings;
module.exports.webhookResources = webhookResources;
