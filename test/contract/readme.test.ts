import Ajv from 'ajv/dist/2020';
import addFormats from 'ajv-formats';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { smhStatus } from '../../functions/smh/status';
import { jsonSchemas } from '../../lib/contract-docs';
import { trackingId, type LkeIdentity } from '../../lib/tracking/model';
import { DEMO_LIBRARY_ID, seedDemoLibrary } from '../../sandbox/demo';
import { startSandbox } from '../../sandbox/server';
import { httpEvent, lambdaContext } from '../helpers/lambda';
import { smhClientFor } from '../helpers/smh';

/** The README's examples are checked, not just written: ids, shapes and the flow they claim to come from. */
const readme = readFileSync(join(__dirname, '..', '..', 'README.md'), 'utf8');
const section = (heading: string) => readme.split(`### ${heading}\n`)[1]!.split('\n### ')[0]!;
const firstJson = (text: string) =>
  JSON.parse(text.split('```json\n')[1]!.split('```')[0]!) as Record<string, unknown>;
/** Every ```json block of a piece of the README, parsed. */
const jsonBlocks = (text: string) =>
  text
    .split('```json\n')
    .slice(1)
    .map((block) => JSON.parse(block.split('```')[0]!) as Record<string, unknown>);
/** A `## heading` part of the README, up to the next `## ` heading. */
const chapter = (heading: string) => readme.split(`\n## ${heading}\n`)[1]!.split('\n## ')[0]!;

describe('README examples', () => {
  const ajv = new Ajv({ allErrors: true });
  addFormats(ajv);
  for (const [file, schema] of Object.entries(jsonSchemas())) ajv.addSchema(schema, file);

  it('the tracked record is a valid record of the task the "Track a task" steps track', () => {
    const record = firstJson(section('Tracked records'));
    const at = '2026-01-01T00:00:00.000Z';
    const filled = JSON.parse(JSON.stringify(record).replaceAll('"…"', `"${at}"`)) as Record<string, unknown>;
    const validate = ajv.getSchema('tracked-task.json')!;
    expect(validate(filled) ? [] : validate.errors).toEqual([]);
    expect(record.id).toBe(trackingId(record as unknown as LkeIdentity & { provider: 'lke' }));
    // The steps: track task 42 (ExportAttributeLabel) while RUNNING; it succeeds before the first poll.
    const steps = readme.split('### Try it')[1]!.split('\n### ')[0]!;
    expect(steps).toContain(`"taskId":"${String(record.taskId)}","taskType":"${String(record.taskType)}"`);
    expect((record.history as { status: string }[]).map((h) => h.status)).toEqual(['pending', 'succeeded']);
  });

  it("the poll summary is a poller's whole output", () => {
    const summaries = jsonBlocks(chapter('Tracking and polling')).filter((block) => 'claimed' in block);
    expect(summaries).toHaveLength(1);
    const validate = ajv.getSchema('poll.output.json')!;
    expect(validate(summaries[0]) ? [] : validate.errors).toEqual([]);
  });

  it('the SMH answer of "Try it" is what the demo library answers to the curl above it', async () => {
    const tryIt = section('Try it');
    const example = jsonBlocks(tryIt).find((block) => 'notFound' in block)!;
    const validate = ajv.getSchema('smh-status.output.json')!;
    expect(validate(example) ? [] : validate.errors).toEqual([]);
    const path = /curl http:\/\/localhost:3000(\S+)\n```\n\nThe last one answers:/.exec(tryIt)![1]!;
    const [, libraryId, spaceId, taskIds] = /^\/smh\/libraries\/([^/]+)\/spaces\/([^/]+)\/tasks\/(\S+)$/.exec(
      path,
    )!;
    expect(libraryId).toBe(DEMO_LIBRARY_ID);

    const sandbox = await startSandbox();
    try {
      const secret = seedDemoLibrary(sandbox.smh);
      const client = smhClientFor(sandbox, { secrets: { [DEMO_LIBRARY_ID]: secret } });
      const response = (await smhStatus({ smh: () => client })(
        httpEvent('GET', path, {
          routeKey: 'GET /smh/libraries/{libraryId}/spaces/{spaceId}/tasks/{taskIds}',
          pathParameters: { libraryId: libraryId!, spaceId: spaceId!, taskIds: taskIds! },
        }),
        lambdaContext(),
      )) as { statusCode: number; body: string };
      expect(response.statusCode).toBe(200);
      const answer = JSON.parse(response.body) as { tasks: { checkedAt: string }[] };
      const at = (example.tasks as { checkedAt: string }[])[0]!.checkedAt;
      for (const task of answer.tasks) task.checkedAt = at;
      expect(answer).toEqual(example);
    } finally {
      await sandbox.close();
    }
  });

  it('the serverless invoke local payloads are valid inputs of their functions', () => {
    const text = section('`serverless invoke local`');
    const calls = [...text.matchAll(/invoke local -f (\w+) --stage local \\\n\s+--data '([^']+)'/g)];
    expect(calls.map(([, fn]) => fn)).toEqual(['lkeStatus', 'smhStatus']);
    const schema = { lkeStatus: 'lke-status.input.json', smhStatus: 'smh-status.input.json' };
    for (const [, fn, data] of calls) {
      const validate = ajv.getSchema(schema[fn as keyof typeof schema])!;
      expect(validate(JSON.parse(data!)) ? [] : validate.errors).toEqual([]);
    }
  });

  it('the event names the same record', () => {
    const event = firstJson(section('EventBridge events'));
    const record = firstJson(section('Tracked records'));
    const detail = event.detail as Record<string, unknown>;
    expect(detail.id).toBe(record.id);
    expect(detail.eventId).toMatch(new RegExp(`^${String(record.id)}\\.v[0-9]+\\.final$`));
  });
});
