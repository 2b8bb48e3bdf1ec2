import { lambdaContext } from '../helpers/lambda';

/**
 * `npm start` serves every function in one process, many invocations at once; a module-scope client logs for
 * whichever invocation it works for. Each line must carry its own invocation's request id.
 */
let lines: string[];
let write: jest.SpyInstance;
beforeEach(() => {
  lines = [];
  write = jest.spyOn(process.stdout, 'write').mockImplementation((chunk: string | Uint8Array) => {
    lines.push(String(chunk));
    return true;
  });
});
afterEach(() => {
  write.mockRestore();
  delete process.env.AWS_LAMBDA_INITIALIZATION_TYPE;
});
// Each test is a container of its own: the handler and logger modules are loaded afresh.
beforeEach(() => jest.resetModules());

const records = () =>
  lines
    .flatMap((text) => text.split('\n'))
    .filter((line) => line.startsWith('{') && !line.includes('"_aws"'))
    .map((line) => JSON.parse(line) as Record<string, unknown>);

it('keeps each concurrent invocation’s request id on its own lines, and cold_start true only on the first', async () => {
  process.env.POWERTOOLS_LOG_LEVEL = 'INFO'; // before the module's logger is made (tests run SILENT otherwise)
  process.env.AWS_LAMBDA_INITIALIZATION_TYPE = 'on-demand'; // as Lambda sets it (Powertools reads cold starts from it)
  const { dualHandler } = await import('../../functions/common/handler');
  const { logger } = await import('../../functions/common/logger');
  const gates = new Map<string, () => void>();
  const handler = dualHandler<{ name: string }, { name: string }>({
    name: 'probe',
    fromHttp: () => ({}),
    parse: (input) => input as { name: string },
    run: async (input) => {
      logger.info('working', { probe: input.name }); // as a module-scope client does
      await new Promise<void>((resolve) => gates.set(input.name, resolve));
      logger.info('still working', { probe: input.name });
      return input;
    },
  });
  const [a, b] = [lambdaContext(), lambdaContext()];
  const first = handler({ name: 'a' }, a);
  const second = handler({ name: 'b' }, b);
  await new Promise((resolve) => setImmediate(resolve));
  gates.get('a')?.(); // a finishes after b started
  await first;
  gates.get('b')?.();
  await second;
  const mine = records().filter((r) => r.message !== undefined && r.function_request_id !== undefined);
  const byId = (id: string) => mine.filter((r) => r.function_request_id === id);
  expect(byId(a.awsRequestId).map((r) => r.message)).toEqual(['working', 'still working', 'probe done']);
  expect(byId(b.awsRequestId).map((r) => r.message)).toEqual(['working', 'still working', 'probe done']);
  for (const r of byId(a.awsRequestId).filter((r) => 'probe' in r)) expect(r.probe).toBe('a');
  for (const r of byId(b.awsRequestId).filter((r) => 'probe' in r)) expect(r.probe).toBe('b');
  const coldOf = (id: string) => new Set(byId(id).map((r) => r.cold_start));
  expect(coldOf(a.awsRequestId)).toEqual(new Set([true])); // the container's first invocation
  expect(coldOf(b.awsRequestId)).toEqual(new Set([false]));
});

/** A container: a fresh handler module, invoked `times` times one after the other; each invocation's cold_start. */
async function coldStarts(times: number): Promise<unknown[]> {
  process.env.POWERTOOLS_LOG_LEVEL = 'INFO';
  const { dualHandler } = await import('../../functions/common/handler');
  const handler = dualHandler<object, object>({
    name: 'probe',
    fromHttp: () => ({}),
    parse: (input) => input as object,
    run: async (input) => input,
  });
  const contexts = Array.from({ length: times }, () => lambdaContext());
  for (const context of contexts) await handler({}, context);
  return contexts.map((context) => {
    const own = records().filter((r) => r.function_request_id === context.awsRequestId);
    expect(own.length).toBeGreaterThan(0);
    return new Set(own.map((r) => r.cold_start)).size === 1 ? own[0]!.cold_start : 'mixed';
  });
}

it('says cold_start true on the first invocation where Lambda does not say how it initialized (npm start, invoke local)', async () => {
  // serverless-offline and `serverless invoke local` set no AWS_LAMBDA_INITIALIZATION_TYPE; Powertools' own
  // heuristic then answers false for every invocation.
  delete process.env.AWS_LAMBDA_INITIALIZATION_TYPE;
  expect(await coldStarts(3)).toEqual([true, false, false]);
});

it('says cold_start true on the first on-demand invocation only, as on Lambda', async () => {
  process.env.AWS_LAMBDA_INITIALIZATION_TYPE = 'on-demand';
  expect(await coldStarts(3)).toEqual([true, false, false]);
});

it.each(['provisioned-concurrency', 'snap-start'])(
  'says cold_start false on every invocation of a container initialized ahead (%s), as Powertools does',
  async (type) => {
    process.env.AWS_LAMBDA_INITIALIZATION_TYPE = type;
    expect(await coldStarts(2)).toEqual([false, false]);
  },
);
