import { smhChecker } from '../../lib/tracking/checkers';
import { once } from '../common/clients';
import { logger } from '../common/logger';
import { notifier } from '../common/notifier';
import { pollHandler, type PollHandlerDeps } from '../common/poll-handler';
import { smhClient } from '../common/smh-client';
import { taskStore } from '../common/store';
import { containerMetrics } from '../common/metrics';
import { SMH_SETTINGS, TRACKING_SETTINGS, settingsCheck } from '../common/settings';

/**
 * Scheduled SMH poller: checks every due SMH task, one batched query per library/space/user, and hands finished
 * tasks over (EventBridge, Step Functions callbacks).
 */
const defaults = once(() => ({
  store: taskStore(),
  checker: smhChecker(smhClient),
  notifier: notifier(),
  log: logger,
}));

export const smhPoll = (deps: PollHandlerDeps = {}) => pollHandler('smhPoll', defaults, deps);

export const handler = smhPoll({
  metrics: containerMetrics('smh'),
  settings: settingsCheck(SMH_SETTINGS, TRACKING_SETTINGS),
});
