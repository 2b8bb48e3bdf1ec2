import { lkeChecker } from '../../lib/tracking/checkers';
import { once } from '../common/clients';
import { lkeClient } from '../common/lke-client';
import { logger } from '../common/logger';
import { notifier } from '../common/notifier';
import { pollHandler, type PollHandlerDeps } from '../common/poll-handler';
import { taskStore } from '../common/store';
import { containerMetrics } from '../common/metrics';
import { LKE_SETTINGS, TRACKING_SETTINGS, settingsCheck } from '../common/settings';

/**
 * Scheduled LKE poller: checks every due LKE task, concurrently up to the 20 requests/second quota, and hands
 * finished tasks over (EventBridge, Step Functions callbacks).
 */
const defaults = once(() => ({
  store: taskStore(),
  checker: lkeChecker(lkeClient),
  notifier: notifier(),
  log: logger,
}));

export const lkePoll = (deps: PollHandlerDeps = {}) => pollHandler('lkePoll', defaults, deps);

export const handler = lkePoll({
  metrics: containerMetrics('lke'),
  settings: settingsCheck(LKE_SETTINGS, TRACKING_SETTINGS),
});
