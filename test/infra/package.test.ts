import { readdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import JSZip from 'jszip';
import { createTableInput } from '../../lib/tracking/table';
// eslint-disable-next-line @typescript-eslint/no-require-imports
const { PERMISSIONS, roleName } = require('../../infra/iam.js') as {
  PERMISSIONS: Record<string, unknown>;
  roleName: (fn: string) => string;
};
import { packageService, resourcesOfType, type Packaged } from '../../scripts/serverless';

// Canary secrets in the environment of the packaging run: none may end up in any artifact.
const CANARY_ID = 'AKIDcanaryShouldNeverBeDeployed';
const CANARY_KEY = 'canary-secret-key-should-never-be-deployed';

let packaged: Packaged;
beforeAll(async () => {
  // In a China region, so that the template is also checked for ARNs of the wrong partition (`arn:aws:`).
  packaged = await packageService(
    'prod',
    {
      TENCENTCLOUD_SECRET_ID: CANARY_ID,
      TENCENTCLOUD_SECRET_KEY: CANARY_KEY,
      SMH_LIBRARY_SECRETS: JSON.stringify({ canarylib: CANARY_KEY }),
    },
    ['--region', 'cn-north-1'],
  );
}, 180_000);

/** The text of one file in a zip, or of all its files joined. */
async function zipText(path: string, entry?: string): Promise<string> {
  const zip = await JSZip.loadAsync(await readFile(path));
  const names = entry ? [entry] : Object.keys(zip.files).filter((name) => !zip.files[name]!.dir);
  const texts = await Promise.all(names.map((name) => zip.file(name)!.async('string')));
  return texts.join('\n');
}

const fn_role = (fn: string) => {
  const resource = packaged.template.Resources[roleName(fn)];
  if (!resource) throw new Error(`no role for ${fn}`);
  return resource.Properties as Record<string, any>; // eslint-disable-line @typescript-eslint/no-explicit-any
};

const fn = (logicalId: string) => {
  const resource = packaged.template.Resources[logicalId];
  if (!resource) throw new Error(`${logicalId} is not in the template`);
  return resource.Properties as Record<string, any>; // eslint-disable-line @typescript-eslint/no-explicit-any
};

describe('serverless package --stage prod (offline, no AWS credentials)', () => {
  it('names no ARN of the wrong partition when packaged for a China region (every ARN is built on AWS::Partition)', () => {
    const text = JSON.stringify(packaged.template);
    expect(text.match(/arn:aws:[^"]{0,80}/g) ?? []).toEqual([]);
    expect(text).toContain('AWS::Partition');
  });

  it('declares lkeStatus on nodejs22.x / arm64 with its handler', () => {
    const props = fn('LkeStatusLambdaFunction');
    expect(props).toMatchObject({
      Runtime: 'nodejs22.x',
      Architectures: ['arm64'],
      Handler: 'functions/lke/status.handler',
      FunctionName: 'tencent-task-tracker-prod-lkeStatus',
    });
  });

  it('declares smhStatus the same way', () => {
    expect(fn('SmhStatusLambdaFunction')).toMatchObject({
      Runtime: 'nodejs22.x',
      Architectures: ['arm64'],
      Handler: 'functions/smh/status.handler',
    });
  });

  it('routes the on-demand GETs through one HTTP API', () => {
    const routes = resourcesOfType(packaged.template, 'AWS::ApiGatewayV2::Route').map(
      ([, r]) => r.Properties.RouteKey,
    );
    expect(routes).toEqual(
      expect.arrayContaining([
        'GET /lke/tasks/{taskId}',
        'GET /smh/libraries/{libraryId}/spaces/{spaceId}/tasks/{taskIds}',
        'GET /smh/libraries/{libraryId}/tasks/{taskIds}',
      ]),
    );
    expect(resourcesOfType(packaged.template, 'AWS::ApiGatewayV2::Api')).toHaveLength(1);
  });

  it('turns point-in-time recovery off outside prod', async () => {
    const dev = await packageService('dev');
    expect(dev.template.Resources.TasksTable?.Properties.PointInTimeRecoverySpecification).toEqual({
      PointInTimeRecoveryEnabled: false,
    });
  }, 180_000);

  it('points functions at the SSM parameter, never at a secret value', () => {
    const env = fn('LkeStatusLambdaFunction').Environment.Variables;
    expect(env.TENCENTCLOUD_SECRET_PARAMETER).toBe('/tencent-task-tracker/prod/tencentcloud');
    expect(env.SMH_SECRET_PARAMETER_PREFIX).toBe('/tencent-task-tracker/prod/smh/libraries');
    expect(env).not.toHaveProperty('SMH_LIBRARY_SECRETS');
    expect(env).not.toHaveProperty('TENCENTCLOUD_SECRET_ID');
    expect(env).not.toHaveProperty('TENCENTCLOUD_SECRET_KEY');
  });

  it('gives every function its own role, and no shared default role', () => {
    expect(packaged.template.Resources).not.toHaveProperty('IamRoleLambdaExecution');
    const functions = resourcesOfType(packaged.template, 'AWS::Lambda::Function');
    expect(functions).toHaveLength(Object.keys(PERMISSIONS).length);
    for (const [logicalId, resource] of functions) {
      const name = String(resource.Properties.FunctionName).replace('tencent-task-tracker-prod-', '');
      expect(resource.Properties.Role).toEqual({ 'Fn::GetAtt': [roleName(name), 'Arn'] });
      expect(logicalId).toBe(`${name[0]!.toUpperCase()}${name.slice(1)}LambdaFunction`);
    }
  });

  it('limits each role to the table actions, indexes and secrets its function uses', () => {
    const statementsOf = (fn: string) =>
      fn_role(fn).Policies[0].PolicyDocument.Statement as { Action: string[]; Resource: unknown }[];
    const actionsOf = (fn: string) =>
      statementsOf(fn)
        .flatMap((s) => s.Action)
        .sort();
    expect(actionsOf('getTask')).toEqual(['dynamodb:GetItem', 'logs:CreateLogStream', 'logs:PutLogEvents']);
    // GetItem: a whole identity is one read; a page filtered by identity reads its records by id.
    expect(actionsOf('listTasks')).toEqual([
      'dynamodb:GetItem',
      'dynamodb:Query',
      'logs:CreateLogStream',
      'logs:PutLogEvents',
    ]);
    expect(actionsOf('untrackTask')).toEqual([
      'dynamodb:GetItem',
      'dynamodb:PutItem',
      'logs:CreateLogStream',
      'logs:PutLogEvents',
    ]);
    expect(actionsOf('trackLke')).toEqual([
      'dynamodb:GetItem',
      'dynamodb:PutItem',
      'logs:CreateLogStream',
      'logs:PutLogEvents',
    ]);
    expect(actionsOf('lkePoll')).toEqual([
      'dynamodb:GetItem',
      'dynamodb:PutItem',
      'dynamodb:Query',
      'dynamodb:UpdateItem', // the shared LKE quota
      'events:PutEvents',
      'logs:CreateLogStream',
      'logs:PutLogEvents',
      'ssm:GetParameter',
      'states:SendTaskFailure',
      'states:SendTaskHeartbeat',
      'states:SendTaskSuccess',
    ]);
    const all = JSON.stringify(packaged.template.Resources);
    expect(all).not.toMatch(/"dynamodb:\*"|"ssm:\*"|"events:\*"|"states:\*"/);
    // "*" only where IAM allows nothing narrower: the task-token callbacks.
    for (const fn of Object.keys(PERMISSIONS)) {
      for (const statement of statementsOf(fn)) {
        if (statement.Resource === '*')
          expect(statement.Action.every((a) => a.startsWith('states:SendTask'))).toBe(true);
      }
    }
    expect(JSON.stringify(statementsOf('listTasks'))).toContain('/index/byProvider');
    expect(JSON.stringify(statementsOf('listTasks'))).toContain('/index/byIdentity');
    expect(JSON.stringify(statementsOf('listTasks'))).not.toContain('/index/due');
    expect(JSON.stringify(statementsOf('lkePoll'))).toContain('/index/due');
    expect(JSON.stringify(statementsOf('lkePoll'))).toContain(
      ':parameter/tencent-task-tracker/prod/tencentcloud',
    );
    expect(JSON.stringify(statementsOf('lkePoll'))).not.toContain('smh/libraries');
    expect(JSON.stringify(statementsOf('smhPoll'))).toContain(
      ':parameter/tencent-task-tracker/prod/smh/libraries/*',
    );
    expect(JSON.stringify(statementsOf('getTask'))).not.toContain('ssm');
  });

  it('lets only the pollers notify, on the configured bus', () => {
    const notifying = Object.keys(PERMISSIONS).filter((fn) =>
      JSON.stringify(fn_role(fn)).includes('events:PutEvents'),
    );
    expect(notifying.sort()).toEqual(['lkePoll', 'smhPoll']);
    const callingBack = Object.keys(PERMISSIONS).filter((fn) =>
      JSON.stringify(fn_role(fn)).includes('states:'),
    );
    expect(callingBack.sort()).toEqual(['lkePoll', 'smhPoll']);
    expect(JSON.stringify(fn_role('smhPoll'))).toContain(':event-bus/default');
    expect(fn('SmhPollLambdaFunction').Environment.Variables.EVENT_BUS_NAME).toBe('default');
  });

  it('declares the tracking table as lib/tracking/table.ts describes it, with TTL and PITR on prod', () => {
    const table = packaged.template.Resources.TasksTable!;
    const expected = createTableInput('tencent-task-tracker-prod-tasks');
    expect(table.Type).toBe('AWS::DynamoDB::Table');
    expect(table.Properties).toMatchObject({
      TableName: expected.TableName,
      BillingMode: 'PAY_PER_REQUEST',
      KeySchema: expected.KeySchema,
      TimeToLiveSpecification: { AttributeName: 'expiresAt', Enabled: true },
      PointInTimeRecoverySpecification: { PointInTimeRecoveryEnabled: true },
    });
    expect(table.Properties.AttributeDefinitions).toEqual(expected.AttributeDefinitions);
    expect(table.Properties.GlobalSecondaryIndexes).toEqual(expected.GlobalSecondaryIndexes);
    expect(fn('LkePollLambdaFunction').Environment.Variables.TABLE_NAME).toBe(
      'tencent-task-tracker-prod-tasks',
    );
  });

  it('schedules both pollers every minute', () => {
    const rules = resourcesOfType(packaged.template, 'AWS::Events::Rule').map(([, r]) => r.Properties);
    expect(rules).toHaveLength(2);
    for (const rule of rules) expect(rule.ScheduleExpression).toBe('rate(1 minute)');
    const targets = rules.map((r) => JSON.stringify(r.Targets));
    expect(targets.some((t) => t.includes('LkePollLambdaFunction'))).toBe(true);
    expect(targets.some((t) => t.includes('SmhPollLambdaFunction'))).toBe(true);
    expect(fn('LkePollLambdaFunction').Timeout).toBe(120);
  });

  it('requires IAM (SigV4) on every HTTP route', () => {
    const routes = resourcesOfType(packaged.template, 'AWS::ApiGatewayV2::Route');
    expect(routes).toHaveLength(10);
    for (const [, route] of routes) expect(route.Properties.AuthorizationType).toBe('AWS_IAM');
  });

  it('routes the tracking API', () => {
    const routes = resourcesOfType(packaged.template, 'AWS::ApiGatewayV2::Route').map(
      ([, r]) => r.Properties.RouteKey,
    );
    expect(routes).toEqual(
      expect.arrayContaining([
        'POST /lke/tasks',
        'POST /smh/tasks',
        'GET /tasks/{id}',
        'DELETE /tasks/{id}',
        'GET /tasks',
      ]),
    );
  });

  it('serves the OpenAPI document, and answers every other route itself ($default)', () => {
    const routes = resourcesOfType(packaged.template, 'AWS::ApiGatewayV2::Route').map(
      ([, r]) => r.Properties.RouteKey,
    );
    expect(routes).toEqual(expect.arrayContaining(['GET /openapi.json', '$default']));
  });

  it('has no plaintext secret in the template, the state file or any bundle', async () => {
    const files = await readdir(packaged.dir);
    expect(files).toEqual(
      expect.arrayContaining(['lkeStatus.zip', 'cloudformation-template-update-stack.json']),
    );
    for (const file of files) {
      const content = file.endsWith('.zip')
        ? await zipText(join(packaged.dir, file))
        : await readFile(join(packaged.dir, file), 'utf8');
      expect(content.length).toBeGreaterThan(0);
      expect(content).not.toContain(CANARY_ID);
      expect(content).not.toContain(CANARY_KEY);
    }
  });

  it('bundles per function without the AWS SDK (the runtime has it) and without the Tencent SDK root', async () => {
    const bundle = await zipText(join(packaged.dir, 'lkeStatus.zip'), 'functions/lke/status.js');
    expect(bundle).toContain('require("@aws-sdk/client-ssm")');
    expect(bundle).toContain('lke.tencentcloudapi.com');
    expect(bundle).not.toContain('cvm.tencentcloudapi.com'); // the package root would pull every service in
    expect(bundle.length).toBeLessThan(1_000_000);
  });

  it('bundles stand-ins for the two Tencent SDK dependencies our calls never use (URL tables, MIME types)', async () => {
    const bundle = await zipText(join(packaged.dir, 'lkeStatus.zip'), 'functions/lke/status.js');
    expect(bundle).toContain('form-data is not bundled');
    expect(bundle).not.toContain('application/vnd.ms-excel'); // mime-db, loaded by form-data
    expect(bundle).not.toContain('xn--'); // tr46's punycode, loaded by whatwg-url
    // tr46 required Node's `punycode`, which Node 22 (the Lambda runtime) answers with a DEP0040 warning.
    expect(bundle).not.toContain('require("punycode")');
  });

  it('loads the input half of the contract only: no function builds the schemas of its answers', async () => {
    for (const fn of ['lkeStatus', 'smhStatus', 'getTask', 'lkePoll']) {
      const bundle = await zipText(join(packaged.dir, `${fn}.zip`));
      expect([fn, bundle.includes('the Step Functions task token')]).toEqual([fn, true]); // an input rule
      expect([fn, bundle.includes('stable across redeliveries')]).toEqual([fn, false]); // TASK_EVENT, an answer
    }
  });

  it('keeps the Tencent SDK out of the SMH bundle (it talks REST over fetch)', async () => {
    const bundle = await zipText(join(packaged.dir, 'smhStatus.zip'), 'functions/smh/status.js');
    expect(bundle).toContain('/api/v1/token');
    expect(bundle).not.toContain('tencentcloudapi.com');
    expect(bundle.length).toBeLessThan(300_000);
  });
});

describe('operations in the prod template', () => {
  const metricsOf = (logicalId: string) => fn(logicalId).Environment.Variables as Record<string, string>;

  it('publishes metrics under one namespace named for the service, the stage in the service dimension', () => {
    for (const logicalId of ['LkeStatusLambdaFunction', 'SmhPollLambdaFunction', 'GetTaskLambdaFunction']) {
      expect(metricsOf(logicalId)).toMatchObject({
        POWERTOOLS_METRICS_NAMESPACE: 'tencent-task-tracker',
        POWERTOOLS_SERVICE_NAME: 'tencent-task-tracker-prod',
      });
    }
  });

  it.each(['Lke', 'Smh'])(
    'alarms on %s poller errors, poll lag, outbox age, dead letters and throttling',
    (P) => {
      const alarm = (name: string) => fn(`${P}${name}Alarm`);
      const dims = [
        { Name: 'service', Value: 'tencent-task-tracker-prod' },
        { Name: 'provider', Value: P.toLowerCase() },
      ];
      expect(alarm('PollerErrors')).toMatchObject({
        Namespace: 'AWS/Lambda',
        MetricName: 'Errors',
        Dimensions: [{ Name: 'FunctionName', Value: `tencent-task-tracker-prod-${P.toLowerCase()}Poll` }],
        Threshold: 1,
        ComparisonOperator: 'GreaterThanOrEqualToThreshold',
      });
      // Twice the longest interval (900 s).
      expect(alarm('PollLag')).toMatchObject({
        Namespace: 'tencent-task-tracker',
        MetricName: 'PollLagMax',
        Dimensions: dims,
        Threshold: 1800,
        ComparisonOperator: 'GreaterThanThreshold',
      });
      expect(alarm('OutboxAge')).toMatchObject({
        MetricName: 'OutboxOldestAge',
        Dimensions: dims,
        Threshold: 1800,
      });
      expect(alarm('DeadLetters')).toMatchObject({
        MetricName: 'PollDeadLettered',
        Dimensions: dims,
        Threshold: 0,
        ComparisonOperator: 'GreaterThanThreshold',
      });
      expect(alarm('Throttling')).toMatchObject({
        MetricName: 'PollThrottled',
        EvaluationPeriods: 3,
        DatapointsToAlarm: 3,
      });
      expect(alarm('PollLag')).not.toHaveProperty('AlarmActions'); // no topic by default
    },
  );

  it('has one dashboard over the same metrics', () => {
    const body = JSON.stringify(fn('OperationsDashboard').DashboardBody);
    for (const name of [
      'PollChecked',
      'PollLagMax',
      'OutboxOldestAge',
      'PollDeadLettered',
      'PollThrottled',
      'UpstreamLatency',
      'Requests',
      'UpstreamErrors',
    ]) {
      expect(body).toContain(name);
    }
  });

  it('runs each poller one at a time, dropping (not queueing) a schedule that comes too soon', () => {
    for (const P of ['Lke', 'Smh']) {
      expect(fn(`${P}PollLambdaFunction`).ReservedConcurrentExecutions).toBe(1);
      expect(fn(`${P}PollLambdaEvConf`)).toMatchObject({
        MaximumRetryAttempts: 0,
        MaximumEventAgeInSeconds: 60,
      });
    }
  });

  it('throttles the HTTP API and keeps logs for the configured days', () => {
    expect(fn('HttpApiStage').DefaultRouteSettings).toEqual({
      ThrottlingRateLimit: 50,
      ThrottlingBurstLimit: 100,
    });
    expect(fn('LkePollLogGroup').RetentionInDays).toBe(30);
  });

  it('sends alarms to an SNS topic when one is given', async () => {
    const withTopic = await packageService('prod', {}, [
      '--param=alarmTopicArn=arn:aws:sns:ap-southeast-1:123456789012:ops',
    ]);
    expect(withTopic.template.Resources.LkeDeadLettersAlarm?.Properties).toMatchObject({
      AlarmActions: ['arn:aws:sns:ap-southeast-1:123456789012:ops'],
    });
  }, 180_000);
});
