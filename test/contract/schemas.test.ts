import Ajv from 'ajv/dist/2020';
import addFormats from 'ajv-formats';
import { mkdtempSync, readdirSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { lkePoll } from '../../functions/lke/poll';
import { lkeStatus } from '../../functions/lke/status';
import { trackLke } from '../../functions/lke/track';
import { smhStatus } from '../../functions/smh/status';
import { trackSmh } from '../../functions/smh/track';
import { getTask } from '../../functions/tasks/get';
import { listTasks } from '../../functions/tasks/list';
import { FileNotifier } from '../../lib/handover/notifier';
import { lkeChecker } from '../../lib/tracking/checkers';
import type { TaskStore } from '../../lib/tracking/store';
import {
  parseLkeTaskQuery,
  parseListQuery,
  parseNotify,
  parseSmhTaskQuery,
  parseTrackingId,
} from '../../lib/validate';
import type { Sandbox } from '../../sandbox/server';
import { startDynamo, storeFor, testClock, type LocalDynamo } from '../helpers/dynamo';
import { lambdaContext } from '../helpers/lambda';
import { lkeClientFor, lkeSandbox, SEED } from '../helpers/lke';
import { captureLog } from '../helpers/log';
import { LIB, LIB_SECRET, smhClientFor } from '../helpers/smh';

const SCHEMAS = join(__dirname, '..', '..', 'schemas');
const ajv = new Ajv({ strict: true, allowUnionTypes: true, allErrors: true });
addFormats(ajv);
for (const file of readdirSync(SCHEMAS))
  ajv.addSchema(JSON.parse(readFileSync(join(SCHEMAS, file), 'utf8')), file);
const validate = (schema: string, value: unknown) => {
  const fn = ajv.getSchema(schema);
  if (!fn) throw new Error(`no schema ${schema}`);
  const ok = fn(value) as boolean;
  return ok ? 'valid' : ajv.errorsText(fn.errors);
};
const accepts = (parse: (input: unknown) => unknown, input: unknown) => {
  try {
    parse(input);
    return true;
  } catch {
    return false;
  }
};

describe('direct-invoke input schemas agree with the functions', () => {
  const cases: [string, (input: unknown) => unknown, unknown[], unknown[]][] = [
    [
      'lke-status.input.json',
      parseLkeTaskQuery,
      [SEED, { ...SEED, taskId: 8 }, { ...SEED, track: true }],
      [
        {},
        { ...SEED, botBizId: '12a' },
        { ...SEED, taskType: '' },
        { ...SEED, taskId: '../8' },
        { ...SEED, taskType: 'A'.repeat(65) },
      ],
    ],
    [
      'smh-status.input.json',
      parseSmhTaskQuery,
      [
        { libraryId: LIB, spaceId: '-', taskIds: ['1', 2] },
        { libraryId: LIB, taskIds: ['7'], userId: 'a@b' },
      ],
      [
        { libraryId: LIB, taskIds: [] },
        { libraryId: 'a/b', taskIds: ['1'] },
        { libraryId: LIB, taskIds: ['0'] },
        { libraryId: LIB, taskIds: Array.from({ length: 101 }, (_, i) => String(i + 1)) },
        { libraryId: LIB, spaceId: 'a b', taskIds: ['1'] },
      ],
    ],
    [
      'track-lke.input.json',
      (input) => [parseLkeTaskQuery(input), parseNotify(input as Record<string, unknown>)],
      [SEED, { ...SEED, notify: { taskToken: 'AQCE+token/=', heartbeat: true } }],
      [
        { ...SEED, notify: { taskToken: '' } },
        { ...SEED, notify: { taskToken: 'a b' } },
        { ...SEED, notify: 'x' },
      ],
    ],
    [
      'get-task.input.json',
      parseTrackingId,
      [{ id: 'lke_AAAAAAAAAAAAAAAAAAAAAAAA' }],
      [{ id: 'lke_x' }, { id: '../x' }, {}],
    ],
    [
      'list-tasks.input.json',
      parseListQuery,
      [{}, { provider: 'smh', status: 'expired', limit: 5 }, { limit: '10', nextToken: 'abc_-1' }],
      [{ provider: 'aws' }, { status: 'done' }, { limit: 0 }, { limit: 101 }],
    ],
  ];
  it.each(cases)('%s', (schema, parse, valid, invalid) => {
    for (const input of valid) {
      expect(validate(schema, input)).toBe('valid');
      expect(accepts(parse, input)).toBe(true);
    }
    for (const input of invalid) {
      expect(validate(schema, input)).not.toBe('valid');
      expect(accepts(parse, input)).toBe(false);
    }
  });
});

describe('output schemas describe what the functions return', () => {
  let dynamo: LocalDynamo;
  let sandbox: Sandbox;
  let store: TaskStore;
  const log = captureLog();
  const context = () => lambdaContext(30_000);

  beforeAll(async () => {
    [dynamo, sandbox] = await Promise.all([startDynamo(), lkeSandbox()]);
    sandbox.smh.setLibrary({ libraryId: LIB, secret: LIB_SECRET });
    sandbox.smh.setTask({ libraryId: LIB, spaceId: '-', taskId: '1', status: 202 });
    sandbox.smh.setTask({ libraryId: LIB, spaceId: '-', taskId: '2', status: 200, result: { path: ['a'] } });
    sandbox.lke.setTask({ ...SEED, taskId: '60', status: 'RUNNING' });
    store = storeFor(dynamo, testClock());
  });
  afterAll(async () => {
    await Promise.all([dynamo.close(), sandbox.close()]);
  });

  it('lkeStatus → lke-task.json', async () => {
    const handler = lkeStatus({ lke: () => lkeClientFor(sandbox), store: () => store, log });
    expect(validate('lke-task.json', await handler(SEED, context()))).toBe('valid');
    expect(validate('lke-task.json', await handler({ ...SEED, taskId: '60', track: true }, context()))).toBe(
      'valid',
    );
  });

  it('smhStatus → smh-status.output.json', async () => {
    const handler = smhStatus({ smh: () => smhClientFor(sandbox), store: () => store, log });
    const output = await handler(
      { libraryId: LIB, spaceId: '-', taskIds: ['1', '2', '3'], track: true },
      context(),
    );
    expect(validate('smh-status.output.json', output)).toBe('valid');
  });

  it('trackLke, trackSmh, getTask, listTasks → tracked-task.json and friends', async () => {
    const tracked = (await trackLke({ store: () => store, log })(
      { ...SEED, notify: { taskToken: 'tok' } },
      context(),
    )) as { id: string };
    expect(validate('tracked-task.json', tracked)).toBe('valid');
    const smh = await trackSmh({ store: () => store, log })({ libraryId: LIB, taskIds: ['5'] }, context());
    expect(validate('track-smh.output.json', smh)).toBe('valid');
    expect(
      validate(
        'tracked-task.json',
        await getTask({ store: () => store, log })({ id: tracked.id }, context()),
      ),
    ).toBe('valid');
    expect(
      validate(
        'list-tasks.output.json',
        await listTasks({ store: () => store, log })({ limit: 2 }, context()),
      ),
    ).toBe('valid');
  });

  it('lkePoll → poll.output.json; its events → task-event.json; its callbacks carry tracked-task.json', async () => {
    const file = join(mkdtempSync(join(tmpdir(), 'ttt-contract-')), 'n.jsonl');
    const client = lkeClientFor(sandbox);
    const handler = lkePoll({
      poller: () => ({ store, checker: lkeChecker(() => client), notifier: new FileNotifier(file), log }),
      log,
    });
    expect(validate('poll.output.json', await handler({}, context()))).toBe('valid');
    const notifications = readFileSync(file, 'utf8')
      .trim()
      .split('\n')
      .map((line) => JSON.parse(line));
    const events = notifications.filter((n) => n.kind === 'event');
    const callbacks = notifications.filter((n) => n.kind === 'callback');
    expect(events.length).toBeGreaterThan(0);
    expect(callbacks.length).toBe(1);
    for (const event of events) expect(validate('task-event.json', event.detail)).toBe('valid');
    expect(validate('tracked-task.json', callbacks[0].output)).toBe('valid');
  });
});
