import { EventBridgeClient } from '@aws-sdk/client-eventbridge';
import { SFNClient } from '@aws-sdk/client-sfn';
import { createServer, type IncomingHttpHeaders } from 'node:http';
import type { AddressInfo } from 'node:net';
import { sdkHandoverApi } from '../../lib/handover/aws-api';
import { AwsNotifier } from '../../lib/handover/notifier';
import { AWS_LIMITS, putEventsEntrySize } from '../../lib/handover/payloads';
import type { Log } from '../../lib/log';

/**
 * A loopback stand-in for an AWS JSON-protocol service (SSM, EventBridge, Step Functions): the real AWS SDK
 * v3 sends its real requests here, we keep each one and answer with what the test scripts, after refusing what
 * AWS itself would refuse (see `awsRefusal`), so a test fails where AWS would.
 */
export interface CapturedRequest {
  /** The X-Amz-Target header, e.g. `AmazonSSM.GetParameter`. */
  target: string;
  headers: IncomingHttpHeaders;
  body: Record<string, unknown>;
  /** Set when the endpoint refused the request as AWS would (its error type). */
  refused?: string;
}

export interface AwsAnswer {
  status?: number;
  body: unknown;
}

export type AwsResponder = (request: CapturedRequest) => AwsAnswer | Promise<AwsAnswer>;

export interface AwsCapture {
  endpoint: string;
  requests: CapturedRequest[];
  respond: AwsResponder;
  close(): Promise<void>;
}

export const fakeAwsConfig = (endpoint: string) => ({
  endpoint,
  region: 'us-east-1',
  credentials: { accessKeyId: 'AKIAFAKEFORTESTS', secretAccessKey: 'fake-secret-for-tests' },
  maxAttempts: 1,
});

const invalid = (message: string): AwsAnswer => ({
  status: 400,
  body: { __type: 'ValidationException', message },
});
const length = (value: unknown) => (typeof value === 'string' ? value.length : 0);

/**
 * What AWS refuses before doing anything (API references of PutEvents, SendTaskSuccess/Failure/Heartbeat):
 * PutEvents with 0 or more than 10 entries or more than 256 KB (entries sized as EventBridge documents);
 * a task token of 0 or more than 2048 characters; an output over 256 KB (UTF-8) or not JSON; an error name
 * over 256 characters; a cause over 32,768.
 */
export function awsRefusal(request: CapturedRequest): AwsAnswer | undefined {
  const { body } = request;
  if (request.target === 'AWSEvents.PutEvents') {
    const entries = (body.Entries ?? []) as Record<string, unknown>[];
    if (entries.length < 1 || entries.length > AWS_LIMITS.putEventsEntries) {
      return invalid(
        `1 validation error detected: Value at 'entries' failed to satisfy constraint: Member must have length between 1 and 10`,
      );
    }
    const total = entries.reduce(
      (sum, e) => sum + putEventsEntrySize(e as Parameters<typeof putEventsEntrySize>[0]),
      0,
    );
    if (total > AWS_LIMITS.putEventsBytes)
      return invalid('Total size of the entries in the request is over the limit.');
    return undefined;
  }
  if (request.target.startsWith('AWSStepFunctions.SendTask')) {
    const token = length(body.taskToken);
    if (token < 1 || token > AWS_LIMITS.taskTokenChars) {
      return invalid(
        `Value at 'taskToken' failed to satisfy constraint: Member must have length between 1 and 2048`,
      );
    }
    if (request.target === 'AWSStepFunctions.SendTaskSuccess') {
      const output = String(body.output ?? '');
      if (Buffer.byteLength(output) > AWS_LIMITS.taskOutputBytes) {
        return invalid(
          `Value at 'output' failed to satisfy constraint: Member must have length less than or equal to 262144`,
        );
      }
      try {
        JSON.parse(output);
      } catch {
        return {
          status: 400,
          body: { __type: 'InvalidOutput', message: 'The provided JSON output data is invalid' },
        };
      }
    }
    if (request.target === 'AWSStepFunctions.SendTaskFailure') {
      if (length(body.error) > AWS_LIMITS.taskErrorChars) {
        return invalid(
          `Value at 'error' failed to satisfy constraint: Member must have length less than or equal to 256`,
        );
      }
      if (length(body.cause) > AWS_LIMITS.taskCauseChars) {
        return invalid(
          `Value at 'cause' failed to satisfy constraint: Member must have length less than or equal to 32768`,
        );
      }
    }
  }
  return undefined;
}

export async function captureAws(respond: AwsResponder): Promise<AwsCapture> {
  const capture: AwsCapture = { endpoint: '', requests: [], respond, close: async () => undefined };
  const server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', async () => {
      const text = Buffer.concat(chunks).toString('utf8');
      const request: CapturedRequest = {
        target: String(req.headers['x-amz-target'] ?? ''),
        headers: req.headers,
        body: text ? (JSON.parse(text) as Record<string, unknown>) : {},
      };
      capture.requests.push(request);
      try {
        const refusal = awsRefusal(request);
        if (refusal) request.refused = (refusal.body as { __type: string }).__type;
        const answer = refusal ?? (await capture.respond(request));
        res.writeHead(answer.status ?? 200, { 'content-type': 'application/x-amz-json-1.1' });
        res.end(JSON.stringify(answer.body));
      } catch {
        res.destroy();
      }
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  capture.endpoint = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  capture.close = () =>
    new Promise((resolve) => {
      server.close(() => resolve());
      server.closeAllConnections();
    });
  return capture;
}

/** Answers every call as AWS does when all is well (PutEvents: an EventId per entry). */
export const acceptAll: AwsResponder = ({ target, body }) =>
  target === 'AWSEvents.PutEvents'
    ? {
        body: {
          FailedEntryCount: 0,
          Entries: (body.Entries as unknown[]).map((_, n) => ({ EventId: `evt-${n}` })),
        },
      }
    : { body: {} };

/** The real AwsNotifier, its EventBridge and Step Functions clients pointed at a capture endpoint. */
export function notifierFor(capture: AwsCapture, log?: Log, busName = 'default'): AwsNotifier {
  return new AwsNotifier({
    api: sdkHandoverApi({
      eventBridge: async () => new EventBridgeClient(fakeAwsConfig(capture.endpoint)),
      sfn: async () => new SFNClient(fakeAwsConfig(capture.endpoint)),
    }),
    busName,
    log,
  });
}
