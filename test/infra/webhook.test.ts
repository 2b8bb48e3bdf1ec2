import { CHANGED_DETAIL_TYPE, EVENT_SOURCE, TERMINAL_DETAIL_TYPES } from '../../lib/handover/payloads';
import {
  packageService,
  resourcesOfType,
  type CloudFormationTemplate,
  type Packaged,
} from '../../scripts/serverless';

interface WebhookSettings {
  url: string;
  detailTypes: string[];
  rateLimit: number;
  auth: { header: string; secret: string } | null;
}
type Resources = CloudFormationTemplate['Resources'];
// eslint-disable-next-line @typescript-eslint/no-require-imports
const webhook = require('../../infra/webhook.js') as {
  EVENT_SOURCE: string;
  CHANGED_DETAIL_TYPE: string;
  TERMINAL_DETAIL_TYPES: string[];
  UNAUTHENTICATED_HEADER: string;
  webhookSettings(params: Record<string, unknown>): WebhookSettings | null;
  webhookResources(input: {
    service: string;
    stage: string;
    eventBusName: string;
    alarmTopicArn: string;
    settings: WebhookSettings | null;
  }): Resources;
};

const URL = 'https://hooks.example.com/tencent/tasks?team=ops';
const SECRET = 'tencent-task-tracker/prod/webhook-token';

/** What a packaged template names besides its own build (each build's artifacts have their own S3 folder). */
const withoutBuild = (value: unknown) =>
  JSON.stringify(value).replace(/serverless\/tencent-task-tracker\/prod\/[^/"]+\//g, '<build>/');

let off: Packaged;
let on: Packaged;
beforeAll(async () => {
  // Packaged for a China region, so that an ARN built without AWS::Partition shows. Each in its own esbuild
  // folder: the packaging test (test/infra/package.test.ts) may package prod at the same time.
  [off, on] = await Promise.all([
    packageService('prod', { ESBUILD_WORK_FOLDER: '.esbuild-package-webhook-off' }, [
      '--region',
      'cn-north-1',
    ]),
    packageService('prod', { ESBUILD_WORK_FOLDER: '.esbuild-package-webhook-on' }, [
      '--region',
      'cn-north-1',
      `--param=webhookUrl=${URL}`,
      `--param=webhookAuthSecret=${SECRET}`,
      '--param=webhookAuthHeader=X-Webhook-Token',
      '--param=webhookRateLimit=5',
    ]),
  ]);
}, 180_000);

const resource = (template: CloudFormationTemplate, logicalId: string) => {
  const found = template.Resources[logicalId];
  if (!found) throw new Error(`${logicalId} is not in the template`);
  return found.Properties as Record<string, any>; // eslint-disable-line @typescript-eslint/no-explicit-any
};

describe('the webhook (infra/webhook.js) in the packaged prod template', () => {
  it('sends the detail-types lib/handover/payloads.ts publishes (the infra cannot import TypeScript)', () => {
    expect(webhook.EVENT_SOURCE).toBe(EVENT_SOURCE);
    expect(webhook.CHANGED_DETAIL_TYPE).toBe(CHANGED_DETAIL_TYPE);
    expect(webhook.TERMINAL_DETAIL_TYPES).toEqual(Object.values(TERMINAL_DETAIL_TYPES));
  });

  it('creates nothing without webhookUrl: no resource, no name, no reference of it', () => {
    const types = new Set(Object.values(off.template.Resources).map((r) => r.Type));
    for (const type of [
      'AWS::Events::Connection',
      'AWS::Events::ApiDestination',
      'AWS::SQS::Queue',
      'AWS::SQS::QueuePolicy',
    ])
      expect([type, types.has(type)]).toEqual([type, false]);
    expect(JSON.stringify(off.template)).not.toMatch(/webhook|secretsmanager|api-?destination|sqs/i);
    // No role EventBridge could assume (the schedules invoke the pollers through Lambda permissions).
    const eventBridgeRoles = resourcesOfType(off.template, 'AWS::IAM::Role').filter(([, r]) =>
      JSON.stringify(r.Properties.AssumeRolePolicyDocument).includes('events.amazonaws.com'),
    );
    expect(eventBridgeRoles).toEqual([]);
    // The only rules are the pollers' schedules.
    const rules = resourcesOfType(off.template, 'AWS::Events::Rule');
    expect(rules.map(([, r]) => r.Properties.ScheduleExpression)).toEqual([
      'rate(1 minute)',
      'rate(1 minute)',
    ]);
  });

  it('adds exactly the connection, the API destination, its role, the rule, the dead-letter queue, its policy and its alarm', () => {
    const typesOf = (template: CloudFormationTemplate) =>
      Object.fromEntries(Object.entries(template.Resources).map(([id, r]) => [id, r.Type]));
    const before = typesOf(off.template);
    const after = typesOf(on.template);
    const added = Object.fromEntries(Object.entries(after).filter(([id]) => !(id in before)));
    expect(added).toEqual({
      WebhookConnection: 'AWS::Events::Connection',
      WebhookApiDestination: 'AWS::Events::ApiDestination',
      WebhookRole: 'AWS::IAM::Role',
      WebhookRule: 'AWS::Events::Rule',
      WebhookDeadLetterQueue: 'AWS::SQS::Queue',
      WebhookDeadLetterQueuePolicy: 'AWS::SQS::QueuePolicy',
      WebhookDeadLettersAlarm: 'AWS::CloudWatch::Alarm',
    });
    // Everything else is as it was, to the byte (but for the build's own S3 folder).
    for (const [id, r] of Object.entries(off.template.Resources))
      expect([id, withoutBuild(on.template.Resources[id])]).toEqual([id, withoutBuild(r)]);
    expect(withoutBuild(on.template.Outputs)).toBe(withoutBuild(off.template.Outputs));
  });

  it('authorizes with a Secrets Manager dynamic reference, never a value', () => {
    expect(resource(on.template, 'WebhookConnection')).toEqual({
      Name: 'tencent-task-tracker-prod-webhook',
      Description: 'Authorizes webhook requests with the X-Webhook-Token header',
      AuthorizationType: 'API_KEY',
      AuthParameters: {
        ApiKeyAuthParameters: {
          ApiKeyName: 'X-Webhook-Token',
          ApiKeyValue: `{{resolve:secretsmanager:${SECRET}}}`,
        },
      },
    });
  });

  it('POSTs to the URL at the rate limit, through the connection', () => {
    expect(resource(on.template, 'WebhookApiDestination')).toEqual({
      Name: 'tencent-task-tracker-prod-webhook',
      Description: 'Task events of tencent-task-tracker-prod, POSTed as EventBridge events',
      ConnectionArn: { 'Fn::GetAtt': ['WebhookConnection', 'Arn'] },
      InvocationEndpoint: URL,
      HttpMethod: 'POST',
      InvocationRateLimitPerSecond: 5,
    });
  });

  it('matches the terminal detail-types on the bus, retries, and dead-letters into the queue', () => {
    const rule = resource(on.template, 'WebhookRule');
    expect(rule).toMatchObject({
      EventBusName: 'default',
      State: 'ENABLED',
      EventPattern: { source: ['tencent-task-tracker'], 'detail-type': Object.values(TERMINAL_DETAIL_TYPES) },
    });
    expect(rule).not.toHaveProperty('ScheduleExpression');
    expect(rule.Targets).toEqual([
      {
        Id: 'webhook',
        Arn: { 'Fn::GetAtt': ['WebhookApiDestination', 'Arn'] },
        RoleArn: { 'Fn::GetAtt': ['WebhookRole', 'Arn'] },
        RetryPolicy: { MaximumRetryAttempts: 185, MaximumEventAgeInSeconds: 86_400 },
        DeadLetterConfig: { Arn: { 'Fn::GetAtt': ['WebhookDeadLetterQueue', 'Arn'] } },
      },
    ]);
  });

  it("gives EventBridge's role one action, events:InvokeApiDestination, on that destination only", () => {
    const role = resource(on.template, 'WebhookRole');
    expect(role.AssumeRolePolicyDocument.Statement).toEqual([
      { Effect: 'Allow', Principal: { Service: ['events.amazonaws.com'] }, Action: ['sts:AssumeRole'] },
    ]);
    expect(role).not.toHaveProperty('ManagedPolicyArns');
    expect(role.Policies).toHaveLength(1);
    expect(role.Policies[0].PolicyDocument.Statement).toEqual([
      {
        Effect: 'Allow',
        Action: ['events:InvokeApiDestination'],
        Resource: { 'Fn::GetAtt': ['WebhookApiDestination', 'Arn'] },
      },
    ]);
    // No other role may invoke it, and no function role gained anything.
    const invoking = Object.entries(on.template.Resources).filter(([, r]) =>
      JSON.stringify(r).includes('InvokeApiDestination'),
    );
    expect(invoking.map(([id]) => id)).toEqual(['WebhookRole']);
  });

  it('lets only the webhook rule send to the dead-letter queue, and alarms on the first message in it', () => {
    expect(resource(on.template, 'WebhookDeadLetterQueue')).toEqual({
      QueueName: 'tencent-task-tracker-prod-webhook-dlq',
      MessageRetentionPeriod: 1_209_600,
      SqsManagedSseEnabled: true,
    });
    expect(resource(on.template, 'WebhookDeadLetterQueuePolicy')).toEqual({
      Queues: [{ Ref: 'WebhookDeadLetterQueue' }],
      PolicyDocument: {
        Version: '2012-10-17',
        Statement: [
          {
            Sid: 'WebhookRuleDeadLetters',
            Effect: 'Allow',
            Principal: { Service: 'events.amazonaws.com' },
            Action: 'sqs:SendMessage',
            Resource: { 'Fn::GetAtt': ['WebhookDeadLetterQueue', 'Arn'] },
            Condition: { ArnEquals: { 'aws:SourceArn': { 'Fn::GetAtt': ['WebhookRule', 'Arn'] } } },
          },
        ],
      },
    });
    expect(resource(on.template, 'WebhookDeadLettersAlarm')).toMatchObject({
      AlarmName: 'tencent-task-tracker-prod-webhook-dead-letters',
      Namespace: 'AWS/SQS',
      MetricName: 'ApproximateNumberOfMessagesVisible',
      Dimensions: [{ Name: 'QueueName', Value: { 'Fn::GetAtt': ['WebhookDeadLetterQueue', 'QueueName'] } }],
      Statistic: 'Maximum',
      Threshold: 0,
      ComparisonOperator: 'GreaterThanThreshold',
    });
    expect(resource(on.template, 'WebhookDeadLettersAlarm')).not.toHaveProperty('AlarmActions'); // no topic
  });

  it('names no ARN of the wrong partition when packaged for a China region', () => {
    const text = JSON.stringify(on.template);
    expect(text.match(/arn:aws:[^"]{0,80}/g) ?? []).toEqual([]);
  });
});

describe('webhook params (infra/webhook.js)', () => {
  const settings = (params: Record<string, unknown>) =>
    webhook.webhookSettings({ webhookUrl: URL, webhookRateLimit: 10, ...params });
  const resources = (params: Record<string, unknown>, alarmTopicArn = '') =>
    webhook.webhookResources({
      service: 'tencent-task-tracker',
      stage: 'dev',
      eventBusName: 'tasks',
      alarmTopicArn,
      settings: settings(params),
    });

  it('creates nothing without a URL, whatever else is set', () => {
    expect(
      webhook.webhookSettings({ webhookUrl: '  ', webhookAuthSecret: 'x', webhookRateLimit: 10 }),
    ).toBeNull();
    expect(
      webhook.webhookResources({
        service: 's',
        stage: 'dev',
        eventBusName: 'default',
        alarmTopicArn: '',
        settings: null,
      }),
    ).toEqual({});
  });

  it('sends the terminal detail-types by default, every one with "all", or the ones listed', () => {
    const terminal = Object.values(TERMINAL_DETAIL_TYPES);
    expect(settings({})?.detailTypes).toEqual(terminal);
    expect(settings({ webhookDetailTypes: 'terminal' })?.detailTypes).toEqual(terminal);
    expect(settings({ webhookDetailTypes: 'all' })?.detailTypes).toEqual([CHANGED_DETAIL_TYPE, ...terminal]);
    expect(settings({ webhookDetailTypes: ' Task Failed, Task Expired,Task Failed ' })?.detailTypes).toEqual([
      'Task Failed',
      'Task Expired',
    ]);
    expect(resources({ webhookDetailTypes: 'Task Failed' }).WebhookRule?.Properties).toMatchObject({
      EventBusName: 'tasks',
      EventPattern: { source: ['tencent-task-tracker'], 'detail-type': ['Task Failed'] },
    });
  });

  it.each([
    [{ webhookDetailTypes: 'Task Done' }, /webhookDetailTypes: unknown detail-type "Task Done"/],
    [{ webhookDetailTypes: ' , ' }, /webhookDetailTypes: empty/],
    [{ webhookUrl: 'http://hooks.example.com/x' }, /HTTPS endpoints only/],
    [{ webhookUrl: 'hooks.example.com' }, /not a URL/],
    [{ webhookUrl: 'https://user:pass@hooks.example.com/x' }, /no credentials in the URL/],
    [{ webhookUrl: 'https://hooks.example.com/a b' }, /does not accept this URL/],
    [{ webhookRateLimit: 0 }, /webhookRateLimit/],
    [{ webhookRateLimit: '2.5' }, /webhookRateLimit/],
    [{ webhookRateLimit: 'fast' }, /webhookRateLimit/],
    // Beyond what AWS::Events::ApiDestination's InvocationRateLimitPerSecond (an Integer, at least 1) accepts, or
    // not written as a whole number (Number() would read these as 1000 and 16).
    [
      { webhookRateLimit: 2_147_483_648 },
      /webhookRateLimit: .*from 1 to 2147483647.*InvocationRateLimitPerSecond/,
    ],
    [{ webhookRateLimit: '99999999999' }, /webhookRateLimit: .*InvocationRateLimitPerSecond/],
    [{ webhookRateLimit: -5 }, /webhookRateLimit/],
    [{ webhookRateLimit: '1e3' }, /webhookRateLimit/],
    [{ webhookRateLimit: '0x10' }, /webhookRateLimit/],
    [{ webhookRateLimit: '' }, /webhookRateLimit/],
    [{ webhookAuthSecret: 'Bearer abc' }, /never its value/],
    [{ webhookAuthSecret: 'x}}' }, /never its value/],
    [{ webhookAuthSecret: 'token', webhookAuthHeader: 'X Token' }, /not an HTTP header name/],
  ])('refuses %j before anything is deployed', (params, message) => {
    expect(() => settings(params)).toThrow(message);
  });

  it('accepts any rate limit InvocationRateLimitPerSecond does, 300 (the default quota) being no maximum', () => {
    for (const [given, rate] of [
      [1, 1],
      [' 300 ', 300],
      [301, 301],
      ['2147483647', 2_147_483_647],
    ] as const) {
      expect([given, settings({ webhookRateLimit: given })?.rateLimit]).toEqual([given, rate]);
      expect(
        resources({ webhookRateLimit: given }).WebhookApiDestination?.Properties.InvocationRateLimitPerSecond,
      ).toBe(rate);
    }
  });

  it('accepts a secret by ARN, a key of a JSON secret or a pinned version, still as a reference', () => {
    const arn = 'arn:aws-cn:secretsmanager:cn-north-1:123456789012:secret:webhook-AbCdEf';
    for (const secret of [arn, 'webhook:SecretString:token', 'webhook:SecretString:::EXAMPLE1-90ab-cdef']) {
      const connection = resources({ webhookAuthSecret: secret }).WebhookConnection?.Properties;
      expect(connection?.AuthParameters).toEqual({
        ApiKeyAuthParameters: {
          ApiKeyName: 'Authorization',
          ApiKeyValue: `{{resolve:secretsmanager:${secret}}}`,
        },
      });
    }
  });

  it('without a secret, sends a header that names the deployment and says it is no authorization', () => {
    const connection = resources({}).WebhookConnection?.Properties;
    expect(connection).toMatchObject({
      AuthorizationType: 'API_KEY',
      AuthParameters: {
        ApiKeyAuthParameters: {
          ApiKeyName: webhook.UNAUTHENTICATED_HEADER,
          ApiKeyValue: 'tencent-task-tracker-dev',
        },
      },
    });
    expect(String(connection?.Description)).toMatch(/No authorization/);
  });

  it('sends the dead-letter alarm to the alarm topic when there is one', () => {
    const topic = 'arn:aws:sns:ap-southeast-1:123456789012:ops';
    expect(resources({}, topic).WebhookDeadLettersAlarm?.Properties).toMatchObject({
      AlarmActions: [topic],
      OKActions: [topic],
    });
  });
});
