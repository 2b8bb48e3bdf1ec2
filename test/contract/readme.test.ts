import Ajv from 'ajv/dist/2020';
import addFormats from 'ajv-formats';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { jsonSchemas } from '../../lib/contract-docs';
import { trackingId, type LkeIdentity } from '../../lib/tracking/model';

/** The README's examples are checked, not just written: ids, shapes and the flow they claim to come from. */
const readme = readFileSync(join(__dirname, '..', '..', 'README.md'), 'utf8');
const section = (heading: string) => readme.split(`### ${heading}\n`)[1]!.split('\n### ')[0]!;
const firstJson = (text: string) =>
  JSON.parse(text.split('```json\n')[1]!.split('```')[0]!) as Record<string, unknown>;

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

  it('the event names the same record', () => {
    const event = firstJson(section('EventBridge events'));
    const record = firstJson(section('Tracked records'));
    const detail = event.detail as Record<string, unknown>;
    expect(detail.id).toBe(record.id);
    expect(detail.eventId).toMatch(new RegExp(`^${String(record.id)}\\.v[0-9]+\\.final$`));
  });
});
