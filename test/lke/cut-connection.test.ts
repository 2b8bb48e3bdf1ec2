import { createServer, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { lkeConfig } from '../../lib/config';
import { UpstreamTimeoutError, UpstreamUnavailableError } from '../../lib/errors';
import { LkeClient } from '../../lib/lke/client';
import type { Log } from '../../lib/log';
import { SECRET_ID, SECRET_KEY, SEED } from '../helpers/lke';
import { captureLog } from '../helpers/log';

/**
 * LKE answers cut off mid-way, from a loopback server that writes raw HTTP and then destroys the socket (the
 * real SDK and node-fetch read them). A cut must be noticed at once, not after the attempt's timeout, and be
 * reported as a connection failure (retried), not as a bad answer or a timeout.
 */

const ANSWER = JSON.stringify({
  Response: { Status: 'SUCCESS', Message: '', Params: { CosPath: '' }, RequestId: 'req-1' },
});
/** How long the server waits, after writing what it writes, before destroying the socket. */
const CUT_AFTER_MS = 20;
/**
 * One attempt's timeout: a cut noticed only by it would cost this much per attempt. (node-fetch 2 leaves its own
 * body timer, the SDK's backstop of 6 s here, running after a failed read: run alone, jest waits for it to exit.)
 */
const TIMEOUT_MS = 5000;
/** Two attempts whose cuts are noticed at once take ~50 ms; generous for a loaded 2-core CI machine. */
const FAST_MS = 1500;

type Reply = 'cut-before-headers' | 'cut-after-headers' | 'cut-mid-body' | 'cut-mid-chunked-body' | 'answer';

const replies: Record<Exclude<Reply, 'answer'>, (res: ServerResponse) => void> = {
  'cut-before-headers': () => {},
  'cut-after-headers': (res) =>
    res.socket?.write(
      `HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: ${ANSWER.length}\r\n\r\n`,
    ),
  'cut-mid-body': (res) =>
    res.socket?.write(
      `HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: ${ANSWER.length}\r\n\r\n` +
        ANSWER.slice(0, 20),
    ),
  'cut-mid-chunked-body': (res) => {
    res.writeHead(200, { 'content-type': 'application/json' }); // no length: chunked
    res.write(ANSWER.slice(0, 20));
  },
};

let server: Server;
let plan: Reply[];
let requests: number;

beforeEach(async () => {
  plan = [];
  requests = 0;
  server = createServer((req, res) => {
    req.resume();
    req.on('end', () => {
      const reply = plan[requests++] ?? 'answer';
      if (reply === 'answer') {
        res.writeHead(200, { 'content-type': 'application/json' }).end(ANSWER);
        return;
      }
      replies[reply](res);
      setTimeout(() => res.socket?.destroy(), CUT_AFTER_MS);
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
});

afterEach(async () => {
  server.closeAllConnections();
  await new Promise((resolve) => server.close(resolve));
});

function client(env: Record<string, string> = {}, log?: Log): LkeClient {
  const { port } = server.address() as AddressInfo;
  return new LkeClient({
    config: lkeConfig({
      LKE_ENDPOINT: `http://127.0.0.1:${port}`,
      LKE_TIMEOUT_MS: String(TIMEOUT_MS),
      UPSTREAM_MAX_ATTEMPTS: '2',
      UPSTREAM_RETRY_BASE_MS: '1',
      UPSTREAM_RETRY_MAX_MS: '5',
      ...env,
    }),
    credentials: async () => ({ secretId: SECRET_ID, secretKey: SECRET_KEY }),
    log,
  });
}

async function timed<T>(work: Promise<T>): Promise<{ outcome: T | unknown; ms: number }> {
  const started = Date.now();
  const outcome = await work.catch((e: unknown) => e);
  return { outcome, ms: Date.now() - started };
}

describe('an LKE answer cut off mid-way (real SDK, loopback server that destroys the socket)', () => {
  it.each<Reply>(['cut-before-headers', 'cut-after-headers', 'cut-mid-body', 'cut-mid-chunked-body'])(
    '%s: noticed at once, retried, and reported as a connection failure',
    async (reply) => {
      plan = [reply, reply];
      const { outcome, ms } = await timed(client().getTaskStatus(SEED));
      expect(outcome).toBeInstanceOf(UpstreamUnavailableError);
      expect(outcome).toMatchObject({ code: 'UpstreamUnavailable', httpStatus: 502, retryable: true });
      expect((outcome as Error).message).toMatch(/^Could not reach LKE: /);
      if (reply !== 'cut-before-headers') {
        expect((outcome as Error).message).toMatch(/connection was cut/);
      }
      expect(requests).toBe(2);
      expect(ms).toBeLessThan(FAST_MS);
    },
  );

  it.each<Reply>(['cut-after-headers', 'cut-mid-body', 'cut-mid-chunked-body'])(
    '%s, then a good answer: the retry answers, at once, logged as a connection failure',
    async (reply) => {
      plan = [reply];
      const log = captureLog();
      const { outcome, ms } = await timed(client({}, log).getTaskStatus(SEED));
      expect(outcome).toMatchObject({ status: 'succeeded', requestId: 'req-1' });
      expect(requests).toBe(2);
      expect(ms).toBeLessThan(FAST_MS);
      expect(log.entries.map((e) => [e.message, e.extra.code])).toEqual([
        ['LKE call failed, retrying', 'UpstreamUnavailable'],
      ]);
    },
  );

  it('reports a timeout, not a bad answer, when our attempt timeout fires while the body is read', async () => {
    // Headers and part of the body, then nothing: the SDK is inside `res.json()` when the attempt times out, and
    // what it throws there escapes the SDK's own try/catch.
    server.removeAllListeners('request');
    server.on('request', (req, res: ServerResponse) => {
      requests++;
      req.resume();
      req.on('end', () => replies['cut-mid-body'](res));
    });
    const { outcome, ms } = await timed(
      client({ LKE_TIMEOUT_MS: '300', UPSTREAM_MAX_ATTEMPTS: '1' }).getTaskStatus(SEED),
    );
    expect(outcome).toBeInstanceOf(UpstreamTimeoutError);
    expect(outcome).toMatchObject({ code: 'UpstreamTimeout', httpStatus: 504 });
    expect(requests).toBe(1);
    expect(ms).toBeGreaterThanOrEqual(250);
  });
});
