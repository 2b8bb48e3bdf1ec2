import { UpstreamFailedError } from '../../lib/errors';
import { redact, registerSecret } from '../../lib/redact';
import { parseLkeTaskQuery, parseListQuery, parseNotify, parseSmhTaskQuery } from '../../lib/validate';

const refuses = (parse: () => unknown) => {
  try {
    parse();
    return undefined;
  } catch (error) {
    return (error as { code?: string; message: string }).code === 'InvalidParameter'
      ? (error as Error).message
      : `not a validation error: ${(error as Error).message}`;
  }
};

describe('validation', () => {
  it.each([['1e2'], ['0x10'], [' 7 '], [true], [[5]], ['5.0'], [-1], ['1000'], [{}]])(
    'refuses limit %p (digits only)',
    (limit) => {
      expect(refuses(() => parseListQuery({ limit }))).toMatch(/limit must be an integer from 1 to 100/);
    },
  );

  it("names the right field when a task id comes under the other API's name", () => {
    expect(refuses(() => parseSmhTaskQuery({ libraryId: 'lib', taskId: '1' }))).toBe(
      'taskIds is required (SMH takes a list: "taskIds": ["1"]); this API has no taskId',
    );
    expect(refuses(() => parseLkeTaskQuery({ taskIds: ['8'], taskType: 'T', botBizId: '1' }))).toBe(
      'taskId is required (LKE takes one task: "taskId": "8"); this API has no taskIds',
    );
    expect(parseSmhTaskQuery({ libraryId: 'lib', taskIds: '1', taskId: 'ignored' }).taskIds).toEqual(['1']);
  });

  it('says which values a list filter takes', () => {
    expect(refuses(() => parseListQuery({ provider: 'zzz' }))).toBe('provider must be one of lke, smh');
    expect(refuses(() => parseListQuery({ status: 'done' }))).toBe(
      'status must be one of pending, running, succeeded, failed, expired, untracked',
    );
    expect(parseListQuery({ provider: '', status: 'expired' })).toEqual({ status: 'expired' });
  });

  it('accepts limit as digits or a JSON integer', () => {
    expect(parseListQuery({ limit: '7' })).toEqual({ limit: 7 });
    expect(parseListQuery({ limit: 100 })).toEqual({ limit: 100 });
  });

  it.each([
    ['a number', 12345],
    ['a boolean', true],
    ['an array', ['tok']],
    ['an object', { t: 1 }],
    ['2049 characters', 'x'.repeat(2049)],
    ['empty', ''],
    ['with a space', 'a b'],
  ])('refuses notify.taskToken: %s', (_, taskToken) => {
    expect(refuses(() => parseNotify({ notify: { taskToken } }))).toBeDefined();
  });

  it('refuses a waiter given where it would be ignored (its execution would wait for nothing), naming no token', () => {
    const token = 'AQCEAAAAKgAAAAMAAAAAAAAAAZ1Bc2VjcmV0LXRva2Vu';
    for (const [input, message] of [
      [{ taskToken: token }, /^taskToken belongs under notify/],
      [{ TaskToken: token }, /^TaskToken belongs under notify/],
      [{ heartbeat: true }, /^heartbeat belongs under notify/],
      [{ Notify: { taskToken: token } }, /^Notify is spelt notify/],
      [{ notify: { tasktoken: token } }, /^notify.tasktoken: notify takes taskToken and heartbeat only/],
      [{ notify: { taskToken: token, heartBeat: true } }, /^notify.heartBeat: notify takes/],
    ] as const) {
      const refused = refuses(() => parseNotify(input as Record<string, unknown>));
      expect([JSON.stringify(input).slice(0, 20), refused]).toEqual([
        JSON.stringify(input).slice(0, 20),
        expect.stringMatching(message),
      ]);
      expect(refused).not.toContain(token);
    }
    // Fields of a state machine's own input pass: only the waiter's place is checked.
    expect(parseNotify({ orderId: 'o-1', notify: { taskToken: token } })?.taskTokens).toEqual([token]);
    expect(parseNotify({ orderId: 'o-1' })).toBeNull();
    // A nested workflow's input carries its parent's token beside its own notify: that is no misplaced waiter.
    expect(parseNotify({ TaskToken: 'parent', notify: { taskToken: token } })?.taskTokens).toEqual([token]);
  });

  it('accepts a Step Functions task token of up to 2048 characters', () => {
    expect(parseNotify({ notify: { taskToken: 'A'.repeat(2048) } })?.taskTokens[0]).toHaveLength(2048);
  });

  it('refuses a botBizId above the unsigned 64-bit range, accepts the largest one', () => {
    const query = { taskId: '8', taskType: 'T' };
    expect(refuses(() => parseLkeTaskQuery({ ...query, botBizId: '18446744073709551616' }))).toMatch(
      /botBizId must be at most 18446744073709551615/,
    );
    expect(refuses(() => parseLkeTaskQuery({ ...query, botBizId: '99999999999999999999' }))).toBeDefined();
    expect(parseLkeTaskQuery({ ...query, botBizId: '18446744073709551615' }).botBizId).toBe(
      '18446744073709551615',
    );
  });

  it('reports every missing or bad field at once', () => {
    expect(refuses(() => parseLkeTaskQuery({ taskId: '8' }))).toBe(
      'taskType is required; botBizId is required',
    );
    expect(refuses(() => parseLkeTaskQuery({}))).toBe(
      'taskId is required; taskType is required; botBizId is required',
    );
  });
});

describe('redaction (one place, every encoding)', () => {
  const secret = 'Tok+Err/Secret=42 é';
  beforeAll(() => registerSecret(secret));

  it.each([
    ['raw', secret],
    ['percent-encoded', encodeURIComponent(secret)],
    [
      'percent-encoded, lower-case hex',
      encodeURIComponent(secret).replace(/%[0-9A-F]{2}/g, (h) => h.toLowerCase()),
    ],
    ['form-encoded', new URLSearchParams({ s: secret }).toString().slice(2)],
    ['JSON-escaped', JSON.stringify(secret).slice(1, -1)],
    ['base64', Buffer.from(secret).toString('base64')],
  ])('removes a known secret %s', (_, form) => {
    expect(redact(`upstream said: …library_secret=${form}&x=1 and ${form}`)).not.toContain(form);
  });

  it('removes signature material by its shape, whatever the secret', () => {
    const echoed =
      'Signature mismatch for TC3-HMAC-SHA256 Credential=AKIDabc/2026-11-29/lke/tc3_request, ' +
      'SignedHeaders=content-type;host, Signature=0123456789abcdef; Authorization: Bearer xyz; ' +
      'access_token=abc%2B%2Fdef; X-TC-Token: sess-1';
    const out = redact(echoed);
    for (const leaked of ['AKIDabc', '0123456789abcdef', 'Bearer xyz', 'abc%2B%2Fdef', 'sess-1']) {
      expect(out).not.toContain(leaked);
    }
  });

  it('applies to every error message the service builds', () => {
    const error = new UpstreamFailedError(`LKE FailedOperation: key ${encodeURIComponent(secret)} refused`, {
      provider: 'lke',
    });
    expect(error.message).not.toContain(encodeURIComponent(secret));
    expect(error.message).toContain('***');
  });
});
