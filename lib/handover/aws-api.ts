import type { EventBridgeClient } from '@aws-sdk/client-eventbridge';
import type { SFNClient } from '@aws-sdk/client-sfn';
import type { HandoverApi } from './notifier';

/**
 * The hand-over's AWS calls with the AWS SDK. The clients and their modules are loaded on first use: the SDK's
 * EventBridge and Step Functions modules take ~100 ms to load, and most poll runs hand nothing over
 * (`npm run bench`, cold start of the pollers).
 */
export function sdkHandoverApi(clients: {
  eventBridge: () => Promise<EventBridgeClient>;
  sfn: () => Promise<SFNClient>;
}): HandoverApi {
  const sfn = async () => ({ client: await clients.sfn(), sdk: await import('@aws-sdk/client-sfn') });
  return {
    async putEvents(entries, options) {
      const { PutEventsCommand } = await import('@aws-sdk/client-eventbridge');
      const client = await clients.eventBridge();
      const answer = await client.send(new PutEventsCommand({ Entries: entries }), {
        abortSignal: options?.signal,
      });
      return answer.Entries ?? [];
    },
    async sendTaskSuccess(input, options) {
      const { client, sdk } = await sfn();
      return client.send(new sdk.SendTaskSuccessCommand(input), { abortSignal: options?.signal });
    },
    async sendTaskFailure(input, options) {
      const { client, sdk } = await sfn();
      return client.send(new sdk.SendTaskFailureCommand(input), { abortSignal: options?.signal });
    },
    async sendTaskHeartbeat(input, options) {
      const { client, sdk } = await sfn();
      return client.send(new sdk.SendTaskHeartbeatCommand(input), { abortSignal: options?.signal });
    },
  };
}
