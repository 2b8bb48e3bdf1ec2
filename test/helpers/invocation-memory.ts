/**
 * Run by test/unit/memory.test.ts in a plain Node process (`node --expose-gc --import tsx`): jest's sandbox
 * changes how timers and async contexts are kept, and hid the leak this measures. Prints the heap growth, in
 * bytes, over INVOCATIONS direct invokes of a warm handler.
 */
import { dualHandler } from '../../functions/common/handler';
import { silentLog } from '../../lib/log';

const INVOCATIONS = Number(process.env.INVOCATIONS ?? 5000);
const context = {
  awsRequestId: 'memory',
  functionName: 'memory',
  functionVersion: '$LATEST',
  invokedFunctionArn: 'arn:aws:lambda:us-east-1:123456789012:function:memory',
  memoryLimitInMB: '256',
  getRemainingTimeInMillis: () => 15_000,
} as never;
const handler = dualHandler(
  { name: 'echo', fromHttp: () => ({}), parse: (input: unknown) => input, run: async () => ({ ok: true }) },
  { log: silentLog },
);

async function main() {
  const gc = (globalThis as { gc?: () => void }).gc as () => void;
  for (let i = 0; i < 200; i++) await handler({}, context);
  gc();
  const before = process.memoryUsage().heapUsed;
  for (let i = 0; i < INVOCATIONS; i++) await handler({}, context);
  gc();
  process.stdout.write(String(process.memoryUsage().heapUsed - before));
  process.exit(0);
}
void main();
