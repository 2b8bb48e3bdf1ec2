import { poll, type PollerDeps, type PollSummary } from '../../lib/tracking/poller';
import { dualHandler, type HandlerDeps } from './handler';

export type PollHandlerDeps = HandlerDeps & { poller?: () => PollerDeps };

/**
 * A poller function: runs on its schedule (the EventBridge event's content is ignored) or by direct invoke,
 * within the invocation's remaining time, and returns (and logs) the run's summary.
 */
export function pollHandler(name: string, defaults: () => PollerDeps, deps: PollHandlerDeps = {}) {
  const pollerDeps = deps.poller ?? defaults;
  return dualHandler<unknown, PollSummary>(
    {
      name,
      fromHttp: () => ({}),
      parse: (input) => input,
      run: (_input, { deadline, signal }) => poll(pollerDeps(), { deadline, signal }),
      summarize: (summary) => ({ ...summary }),
    },
    deps,
  );
}
