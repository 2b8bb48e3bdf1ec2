import { sdkHandoverApi } from '../../lib/handover/aws-api';
import { AwsNotifier, FileNotifier, type Notifier } from '../../lib/handover/notifier';
import { once } from './clients';
import { logger } from './logger';

/**
 * The container's notifier. On AWS: EventBridge (`EVENT_BUS_NAME`, default bus) and Step Functions, endpoints
 * overridable with EVENTBRIDGE_ENDPOINT / STEPFUNCTIONS_ENDPOINT. Under `npm start` without those endpoints,
 * NOTIFY_SINK_FILE names the local sink (a JSON-lines file plus a log line per notification).
 */
export const notifier = once((): Notifier => {
  const sink = process.env.NOTIFY_SINK_FILE?.trim();
  if (sink) return new FileNotifier(sink, logger);
  const eventBridgeEndpoint = process.env.EVENTBRIDGE_ENDPOINT?.trim();
  const sfnEndpoint = process.env.STEPFUNCTIONS_ENDPOINT?.trim();
  return new AwsNotifier({
    api: sdkHandoverApi({
      eventBridge: once(async () => {
        const { EventBridgeClient } = await import('@aws-sdk/client-eventbridge');
        return new EventBridgeClient(eventBridgeEndpoint ? { endpoint: eventBridgeEndpoint } : {});
      }),
      sfn: once(async () => {
        const { SFNClient } = await import('@aws-sdk/client-sfn');
        return new SFNClient(sfnEndpoint ? { endpoint: sfnEndpoint } : {});
      }),
    }),
    busName: process.env.EVENT_BUS_NAME?.trim() || 'default',
    log: logger,
  });
});
