import { createServer, type IncomingHttpHeaders } from 'node:http';
import type { AddressInfo } from 'node:net';

/**
 * A loopback stand-in for an AWS JSON-protocol service (SSM, EventBridge, Step Functions): the real AWS SDK
 * v3 sends its real requests here, we keep each one and answer with what the test scripts.
 */
export interface CapturedRequest {
  /** The X-Amz-Target header, e.g. `AmazonSSM.GetParameter`. */
  target: string;
  headers: IncomingHttpHeaders;
  body: Record<string, unknown>;
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
        const answer = await capture.respond(request);
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
