import { lambdaContext } from '../helpers/lambda';

/**
 * Each function checks its settings when its container starts serving: a wrong or missing one fails the first
 * invocation (and the next ones) with one message that names it, before anything is called.
 */
const GOOD: Record<string, string> = {
  TABLE_NAME: 'tasks-settings-test',
  TENCENTCLOUD_SECRET_ID: 'AKIDsettings',
  TENCENTCLOUD_SECRET_KEY: 'settings-key',
  SMH_LIBRARY_SECRETS: '{"lib":"secret"}',
  // Nothing may be reached: a check that failed to stop the call would fail on these instead.
  LKE_ENDPOINT: 'http://127.0.0.1:9',
  SMH_BASE_URL: 'http://127.0.0.1:9',
  AWS_ENDPOINT_URL_DYNAMODB: 'http://127.0.0.1:9',
  // The refusals are what this test reads; their metrics (Requests, 5xx) would be noise among the results.
  POWERTOOLS_METRICS_DISABLED: 'true',
};

const FUNCTIONS: Record<string, { module: string; input: unknown; groups: string[] }> = {
  lkeStatus: {
    module: '../../functions/lke/status',
    input: { taskId: '8', taskType: 'T', botBizId: '1' },
    groups: ['lke', 'tracking'],
  },
  smhStatus: {
    module: '../../functions/smh/status',
    input: { libraryId: 'lib', spaceId: '-', taskIds: ['1'] },
    groups: ['smh', 'tracking'],
  },
  trackLke: {
    module: '../../functions/lke/track',
    input: { taskId: '8', taskType: 'T', botBizId: '1' },
    groups: ['tracking'],
  },
  trackSmh: {
    module: '../../functions/smh/track',
    input: { libraryId: 'lib', taskIds: ['1'] },
    groups: ['tracking'],
  },
  getTask: {
    module: '../../functions/tasks/get',
    input: { id: 'lke_AAAAAAAAAAAAAAAAAAAAAAAA' },
    groups: ['tracking'],
  },
  listTasks: { module: '../../functions/tasks/list', input: {}, groups: ['tracking'] },
  lkePoll: { module: '../../functions/lke/poll', input: {}, groups: ['lke', 'tracking'] },
  smhPoll: { module: '../../functions/smh/poll', input: {}, groups: ['smh', 'tracking'] },
};

// [group, setting, value (undefined: unset), what the message must say]
const BAD: [string, string, string | undefined, RegExp][] = [
  ['lke', 'LKE_ENDPOINT', 'ftp://lke.example', /LKE_ENDPOINT must use http or https/],
  [
    'lke',
    'LKE_ENDPOINT',
    'https://lke.intl.tencentcloudapi.com',
    /LKE_REGION=ap-guangzhou cannot work with LKE_ENDPOINT/,
  ],
  ['lke', 'UPSTREAM_MAX_ATTEMPTS', 'many', /UPSTREAM_MAX_ATTEMPTS must be an integer/],
  ['lke', 'TENCENTCLOUD_SECRET_ID', undefined, /No Tencent Cloud credentials are configured/],
  ['smh', 'SMH_LIBRARY_SECRETS', '{"lib":', /SMH_LIBRARY_SECRETS is not valid JSON/],
  [
    'smh',
    'SMH_LIBRARY_SECRETS',
    '{"lib":{"secret":"s","baseUrl":"mailto:x"}}',
    /SMH_LIBRARY_SECRETS\["lib"\]\.baseUrl/,
  ],
  ['smh', 'SMH_BASE_URL', 'http://', /SMH_BASE_URL must be a URL/],
  ['tracking', 'TABLE_NAME', undefined, /TABLE_NAME is not set/],
  ['tracking', 'POLL_BACKOFF_FACTOR', 'fast', /POLL_BACKOFF_FACTOR must be a number/],
  ['tracking', 'POLL_MAX_INTERVAL_SECONDS', '-5', /POLL_MAX_INTERVAL_SECONDS must be an integer/],
];

const cases = Object.entries(FUNCTIONS).flatMap(([name, fn]) =>
  BAD.filter(([group]) => fn.groups.includes(group)).map(
    ([, setting, value, message]) => [name, setting, value, message, fn] as const,
  ),
);

const saved = { ...process.env };
afterEach(() => {
  process.env = { ...saved };
});

it.each(cases)(
  '%s with %s=%p fails its first invocation with one clear message',
  async (_, setting, value, message, fn) => {
    process.env = {
      ...saved,
      ...GOOD,
      ...(setting === 'LKE_ENDPOINT' && /intl/.test(value ?? '') ? { LKE_REGION: 'ap-guangzhou' } : {}),
    };
    if (value === undefined) delete process.env[setting];
    else process.env[setting] = value;
    let handler!: (event: unknown, context: unknown) => Promise<unknown>;
    jest.isolateModules(() => {
      ({ handler } = require(fn.module)); // eslint-disable-line @typescript-eslint/no-require-imports
    });
    for (let n = 0; n < 2; n++) {
      const error = (await handler(fn.input, lambdaContext()).catch((e: unknown) => e)) as Error;
      expect(error).toBeInstanceOf(Error);
      expect(['NotConfigured', 'SecretInvalid']).toContain(error.name); // never InternalError
      expect(error.message).toMatch(message);
      expect(error.stack).toBe(error.message); // `<code>: <message>`, one line, no stack trace
    }
  },
);

it('covers every function', () => {
  expect(new Set(cases.map(([name]) => name))).toEqual(new Set(Object.keys(FUNCTIONS)));
});
