import { configuredEndpoint } from '../../lib/aws/endpoints';
import { sdkHandoverApi } from '../../lib/handover/aws-api';
import { AwsNotifier, FileNotifier, type Notifier } from '../../lib/handover/notifier';
import { once } from './clients';
import { logger } from './logger';

/**
 * The container's notifier. On AWS: EventBridge (`EVENT_BUS_NAME`, default bus) and Step Functions, at the
 * endpoints the AWS SDK resolves (`AWS_ENDPOINT_URL_EVENTBRIDGE` / `AWS_ENDPOINT_URL_SFN`, then
 * `AWS_ENDPOINT_URL`); EVENTBRIDGE_ENDPOINT / STEPFUNCTIONS_ENDPOINT, this project's older names, are still read
 * when none of those is set. Under `npm start` without any, NOTIFY_SINK_FILE names the local sink (a JSON-lines
 * file plus a log line per notification).
 */
export const notifier = once((): Notifier => {
  const sink = process.env.NOTIFY_SINK_FILE?.trim();
  if (sink) return new FileNotifier(sink, logger);
  const eventBridgeEndpoint = legacyEndpoint('EVENTBRIDGE', 'EVENTBRIDGE_ENDPOINT');
  const sfnEndpoint = legacyEndpoint('SFN', 'STEPFUNCTIONS_ENDPOINT');
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

/** A project-specific endpoint variable, where it applies: the SDK resolves the standard ones itself. */
function legacyEndpoint(service: 'EVENTBRIDGE' | 'SFN', name: string): string | undefined {
  const endpoint = configuredEndpoint(service, process.env, name);
  return endpoint?.legacy ? endpoint.url : undefined;
}
