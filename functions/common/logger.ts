import { Logger } from '@aws-lambda-powertools/logger';
import type { Context } from 'aws-lambda';
import { AsyncLocalStorage } from 'node:async_hooks';
import type { Log } from '../../lib/log';

/**
 * Structured JSON logging through Powertools. Level and service name come from POWERTOOLS_LOG_LEVEL and
 * POWERTOOLS_SERVICE_NAME (set in serverless.yml). Events are never logged whole: they may carry task tokens.
 */
class FunctionLogger extends Logger {
  /** What `addContext` stamps as `cold_start` (set by `forInvocation`; read once, as Powertools reads its own). */
  private coldInvocation = false;

  protected override createLogger(options?: ConstructorParameters<typeof Logger>[0]): FunctionLogger {
    return new FunctionLogger(options);
  }

  /**
   * Powertools' own heuristic answers true only when Lambda says the environment initialized on demand
   * (AWS_LAMBDA_INITIALIZATION_TYPE=on-demand); serverless-offline (`npm start`) and `serverless invoke local`
   * set no such variable, so every line said `cold_start: false` there. We know which invocation is the
   * container's first ourselves (`withInvocationLog`).
   */
  protected override getColdStart(): boolean {
    const cold = this.coldInvocation;
    this.coldInvocation = false;
    return cold;
  }

  /** A logger for one invocation: this one's settings, its context, and `cold_start` as Lambda means it. */
  forInvocation(context: Context, firstInvocation: boolean): FunctionLogger {
    const own = this.createChild() as FunctionLogger;
    own.coldInvocation = firstInvocation && initializedOnDemand();
    own.addContext(context);
    return own;
  }
}

/**
 * True unless Lambda says the environment was initialized ahead of its first invocation (provisioned
 * concurrency, SnapStart, managed instances), which Powertools never calls a cold start: on demand, or outside
 * Lambda (no AWS_LAMBDA_INITIALIZATION_TYPE), where `npm start` serves each function as one container would.
 */
function initializedOnDemand(): boolean {
  const type = process.env.AWS_LAMBDA_INITIALIZATION_TYPE?.trim();
  return !type || type === 'on-demand';
}

const containerLogger = new FunctionLogger({
  serviceName: process.env.POWERTOOLS_SERVICE_NAME ?? 'tencent-task-tracker',
});
const invocations = new AsyncLocalStorage<FunctionLogger>();
let firstInvocation = true;

const current = () => invocations.getStore() ?? containerLogger;

/**
 * The logger of whatever runs now: the invocation's own one (its request id, cold start) inside
 * `withInvocationLog`, the container's otherwise. Module-scope clients hold this object, so their lines carry
 * the id of the invocation they work for.
 */
export const logger: Log = {
  debug: (message, ...extra) => current().debug(message, ...extra),
  info: (message, ...extra) => current().info(message, ...extra),
  warn: (message, ...extra) => current().warn(message, ...extra),
  error: (message, ...extra) => current().error(message, ...extra),
};

/**
 * Runs one invocation with a logger of its own. On Lambda a container serves one invocation at a time, but
 * `npm start` serves every function in one process, many at once: one shared logger would stamp a line with
 * the request id of whichever invocation started last.
 */
export function withInvocationLog<T>(context: Context, run: () => Promise<T>): Promise<T> {
  const own = containerLogger.forInvocation(context, firstInvocation);
  firstInvocation = false;
  return invocations.run(own, run);
}
