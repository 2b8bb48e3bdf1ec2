import Ajv from 'ajv/dist/2020';
import addFormats from 'ajv-formats';
import { randomUUID } from 'node:crypto';
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { lkeConfig } from '../../lib/config';
import { LkeClient } from '../../lib/lke/client';
import { lkeChecker } from '../../lib/tracking/checkers';
import { poll } from '../../lib/tracking/poller';
import { lkeIdentity, track } from '../../lib/tracking/service';
import type { TaskStore } from '../../lib/tracking/store';
import { startSandbox, type Sandbox } from '../../sandbox/server';
import { acceptAll, captureAws, notifierFor, type AwsCapture } from '../helpers/aws-capture';
import { startDynamo, storeFor, testClock, type LocalDynamo } from '../helpers/dynamo';
import { SECRET_ID, SECRET_KEY } from '../helpers/lke';
import { captureLog } from '../helpers/log';

// eslint-disable-next-line @typescript-eslint/no-require-imports
const webhook = require('../../infra/webhook.js') as {
  webhookSettings(params: Record<string, unknown>): unknown;
  webhookResources(input: Record<string, unknown>): Record<string, { Properties: Record<string, unknown> }>;
};

/**
 * What a webhook receives: with no input transformer, an API destination's request body is the event EventBridge
 * built from our PutEvents entry (https://docs.aws.amazon.com/eventbridge/latest/userguide/eb-events.html):
 * version "0", a fresh id, detail-type and source as sent, the account and region, `time` the entry's Time to the
 * second, `resources` the entry's (none), and `detail` the entry's Detail parsed. EventBridge builds it, not us;
 * this builds it the same way from the entry the real SDK sent, so that what we send is checked, not a copy.
 */
interface WireEntry {
  Source: string;
  DetailType: string;
  Detail: string;
  Time: number; // the SDK sends a Date as epoch seconds
  Resources?: string[];
  EventBusName?: string;
}
const ACCOUNT = '123456789012';
const REGION = 'ap-southeast-1';
const eventOf = (entry: WireEntry) => ({
  version: '0',
  id: randomUUID(),
  'detail-type': entry.DetailType,
  source: entry.Source,
  account: ACCOUNT,
  time: new Date(Math.floor(entry.Time) * 1000).toISOString().replace('.000Z', 'Z'),
  region: REGION,
  resources: entry.Resources ?? [],
  detail: JSON.parse(entry.Detail) as Record<string, unknown>,
});
type Body = ReturnType<typeof eventOf>;

/** The body's schema as receivers get it (schemas/webhook-body.json, generated from lib/contract-outputs.ts). */
const SCHEMAS = join(__dirname, '..', '..', 'schemas');
const ajv = new Ajv({ strict: true, allowUnionTypes: true, allErrors: true });
addFormats(ajv);
for (const file of readdirSync(SCHEMAS))
  ajv.addSchema(JSON.parse(readFileSync(join(SCHEMAS, file), 'utf8')), file);
const validateBody = ajv.getSchema('webhook-body.json')!;
const check = (body: unknown) => (validateBody(body) ? 'valid' : ajv.errorsText(validateBody.errors));

/** The webhook rule's pattern as infra/webhook.js writes it with the default params, and whether an event matches. */
const rule = webhook.webhookResources({
  service: 'tencent-task-tracker',
  stage: 'test',
  eventBusName: 'default',
  alarmTopicArn: '',
  settings: webhook.webhookSettings({ webhookUrl: 'https://hooks.example.com/tasks', webhookRateLimit: 10 }),
}).WebhookRule!.Properties;
const pattern = rule.EventPattern as { source: string[]; 'detail-type': string[] };
const matches = (body: Body) =>
  pattern.source.includes(body.source) && pattern['detail-type'].includes(body['detail-type']);

let dynamo: LocalDynamo;
let sandbox: Sandbox;
let aws: AwsCapture;
let store: TaskStore;
const clock = testClock();
const log = captureLog();

beforeAll(async () => {
  [dynamo, sandbox, aws] = await Promise.all([
    startDynamo(),
    startSandbox({ lke: { credentials: { [SECRET_ID]: { secretKey: SECRET_KEY } } } }),
    captureAws(acceptAll),
  ]);
  store = storeFor(dynamo, clock);
});
afterAll(async () => {
  await Promise.all([dynamo.close(), sandbox.close(), aws.close()]);
});

const lkeTask = (taskId: string, status: string, message = '') => {
  sandbox.lke.setTask({
    botBizId: '1',
    taskType: 'ExportAttributeLabel',
    taskId,
    status,
    message,
    cosPath: '',
  });
  return lkeIdentity({ botBizId: '1', taskType: 'ExportAttributeLabel', taskId });
};
const run = () => {
  const client = new LkeClient({
    config: lkeConfig({ LKE_ENDPOINT: sandbox.url, UPSTREAM_RETRY_BASE_MS: '1' }),
    credentials: async () => ({ secretId: SECRET_ID, secretKey: SECRET_KEY }),
  });
  return poll(
    { store, checker: lkeChecker(() => client), notifier: notifierFor(aws, log), log },
    { deadline: clock.now() + 60_000 },
  );
};

describe('what the webhook receiver gets', () => {
  let bodies: Body[];
  beforeAll(async () => {
    await track(store, lkeTask('1', 'RUNNING'), { taskTokens: [], heartbeat: false });
    await track(store, lkeTask('2', 'RUNNING'), { taskTokens: [], heartbeat: false });
    await run();
    sandbox.lke.setTask({
      botBizId: '1',
      taskType: 'ExportAttributeLabel',
      taskId: '1',
      status: 'SUCCESS',
      cosPath: 'cos://exports/1.xlsx',
    });
    lkeTask('2', 'FAILED', 'label file is malformed');
    clock.advance(60_000);
    await run();
    // Every event the real notifier sent, through the real SDK, as EventBridge would deliver it.
    bodies = aws.requests
      .filter((r) => r.target === 'AWSEvents.PutEvents')
      .flatMap((r) => (r.body.Entries as WireEntry[]).map(eventOf));
  });

  it('is an EventBridge event around a task-event.json detail, for each detail-type the rule sends', () => {
    const sent = bodies.filter(matches);
    expect(sent.map((b) => [b['detail-type'], b.detail.taskId, b.detail.status]).sort()).toEqual([
      ['Task Failed', '2', 'failed'],
      ['Task Succeeded', '1', 'succeeded'],
    ]);
    for (const body of sent)
      expect([body['detail-type'], check(body)]).toEqual([body['detail-type'], 'valid']);
    const succeeded = sent.find((b) => b['detail-type'] === 'Task Succeeded')!;
    expect(succeeded.detail).toMatchObject({ result: { cosPath: 'cos://exports/1.xlsx' } });
    expect(succeeded.detail.eventId).toMatch(/\.final$/);
    expect(succeeded.time).toMatch(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$/);
  });

  it('by default leaves out the events of unfinished changes (Task Status Changed)', () => {
    const changed = bodies.filter((b) => b['detail-type'] === 'Task Status Changed');
    expect(changed.map((b) => b.detail.status).sort()).toEqual(['failed', 'running', 'running', 'succeeded']);
    expect(changed.filter(matches)).toEqual([]);
    for (const body of changed) expect(check(body)).toBe('valid'); // `webhookDetailTypes=all` would send them
  });

  it('is refused when it is not what the schema says (the check can fail)', () => {
    const body = bodies.find(matches)!;
    expect(check({ ...body, detail: { ...body.detail, status: 'done' } })).toMatch(/status/);
    expect(check({ ...body, account: 'x' })).toMatch(/account/);
    const { region: _region, ...withoutRegion } = body;
    expect(check(withoutRegion)).toMatch(/region/);
  });

  it("matches the README's example body", () => {
    const readme = readFileSync(join(__dirname, '..', '..', 'README.md'), 'utf8');
    const section = readme.split('### Webhooks\n')[1]!.split('\n### ')[0]!;
    const example = JSON.parse(section.split('```json\n')[1]!.split('```')[0]!) as Body;
    expect(check(example)).toBe('valid');
    expect(matches(example)).toBe(true);
  });
});
