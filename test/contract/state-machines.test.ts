import Ajv from 'ajv';
import addFormats from 'ajv-formats';
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import * as errors from '../../lib/errors';
import { CALLBACK_ERRORS } from '../../lib/handover/payloads';

/**
 * The example state machines must keep working against what the functions really do: every state reachable and
 * well-formed, every error name one our functions throw (or Lambda's/Step Functions' own), every field a Choice
 * reads present in the output schema, and only the documented substitutions.
 */
const DIR = join(__dirname, '..', '..', 'examples', 'state-machines');
const files = readdirSync(DIR).filter((f) => f.endsWith('.asl.json'));

interface State {
  Type: string;
  Next?: string;
  End?: boolean;
  Default?: string;
  Choices?: { Variable: string; StringEquals?: string; Next: string }[];
  Catch?: { ErrorEquals: string[]; Next: string }[];
  Retry?: { ErrorEquals: string[] }[];
  Parameters?: { FunctionName?: string };
}

// Codes our functions give as Lambda errorType (lib/errors.ts, fixed and per-instance ones).
const fixedCodes = (Object.values(errors) as unknown[]).flatMap((value) => {
  if (typeof value !== 'function') return [];
  try {
    const instance = new (value as new (message: string, details: object) => unknown)('x', {
      provider: 'lke',
    });
    return instance instanceof errors.TrackerError ? [instance.code] : [];
  } catch {
    return []; // abstract classes and plain functions
  }
});
const KNOWN_ERRORS = new Set([
  ...fixedCodes,
  'TaskNotFound', // UpstreamNotFoundError's default
  ...Object.values(CALLBACK_ERRORS),
]);

it('knows the error codes the functions throw', () => {
  expect(fixedCodes).toEqual(
    expect.arrayContaining([
      'InvalidParameter',
      'UpstreamThrottled',
      'UpstreamTimeout',
      'UpstreamAuthFailure',
    ]),
  );
  expect(files.sort()).toEqual(['polling-loop.asl.json', 'wait-for-callback.asl.json']);
});

describe.each(files)('%s', (file) => {
  const definition = JSON.parse(readFileSync(join(DIR, file), 'utf8')) as {
    StartAt: string;
    States: Record<string, State>;
  };
  const states = definition.States;

  it('is well-formed: StartAt and every transition lead to a state, every path ends', () => {
    expect(states[definition.StartAt]).toBeDefined();
    for (const [name, state] of Object.entries(states)) {
      const targets = [
        state.Next,
        state.Default,
        ...(state.Choices ?? []).map((c) => c.Next),
        ...(state.Catch ?? []).map((c) => c.Next),
      ];
      for (const target of targets.filter(Boolean)) expect(Object.keys(states)).toContain(target);
      const terminal = ['Succeed', 'Fail'].includes(state.Type) || state.End === true;
      if (!terminal && state.Type !== 'Choice') expect(state.Next).toBeDefined();
      if (state.Type === 'Choice') expect(state.Choices?.length).toBeGreaterThan(0);
      expect(name.length).toBeLessThanOrEqual(80);
    }
    const reachable = new Set<string>();
    const visit = (name: string) => {
      if (reachable.has(name)) return;
      reachable.add(name);
      const s = states[name] as State;
      [s.Next, s.Default, ...(s.Choices ?? []).map((c) => c.Next), ...(s.Catch ?? []).map((c) => c.Next)]
        .filter((n): n is string => Boolean(n))
        .forEach(visit);
    };
    visit(definition.StartAt);
    expect([...reachable].sort()).toEqual(Object.keys(states).sort());
  });

  it('retries and catches only errors that exist', () => {
    for (const state of Object.values(states)) {
      for (const rule of [...(state.Retry ?? []), ...(state.Catch ?? [])]) {
        for (const name of rule.ErrorEquals) {
          if (name.startsWith('Lambda.') || name.startsWith('States.')) continue;
          expect(KNOWN_ERRORS).toContain(name);
        }
      }
    }
  });

  it('calls our functions only through the documented substitutions', () => {
    const names = Object.values(states).flatMap((s) =>
      s.Parameters?.FunctionName ? [s.Parameters.FunctionName] : [],
    );
    expect(names.length).toBeGreaterThan(0);
    for (const name of names) expect(['${TrackLkeFunctionArn}', '${LkeStatusFunctionArn}']).toContain(name);
  });

  it('branches only on statuses the output schema has', () => {
    const ajv = new Ajv({ strict: false });
    addFormats(ajv);
    const schema = JSON.parse(readFileSync(join(__dirname, '..', '..', 'schemas', 'lke-task.json'), 'utf8'));
    const statuses: string[] = schema.properties.status.enum;
    for (const state of Object.values(states)) {
      for (const choice of state.Choices ?? []) {
        expect(choice.Variable).toMatch(/\.status$/);
        expect(statuses).toContain(choice.StringEquals);
      }
    }
  });
});
