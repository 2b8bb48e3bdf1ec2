import { createServer, type IncomingMessage } from 'node:http';
import type { AddressInfo } from 'node:net';

/**
 * A loopback proxy in front of dynalite that does to each request what `rule` says, as a network would:
 * - `pass`: forwards it and its answer;
 * - `fail`: cuts the connection before forwarding (the request never applies);
 * - `lose`: forwards it (it applies), then cuts the connection instead of answering.
 * The real table client then does what it does on AWS: retries, times out, reports.
 */
export type Fault = 'pass' | 'fail' | 'lose';

export interface ProxiedRequest {
  operation: string;
  body: Record<string, unknown>;
  /** How many requests of this operation came before this one. */
  nth: number;
}

export async function faultProxy(
  target: string,
  rule: (request: ProxiedRequest) => Fault = () => 'pass',
  /** Runs after a `lose` request applied, before its connection is cut: what another caller does meanwhile. */
  meanwhile?: () => Promise<void>,
) {
  const counts = new Map<string, number>();
  const seen: { operation: string; fault: Fault }[] = [];
  const server = createServer((req: IncomingMessage, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', async () => {
      const raw = Buffer.concat(chunks);
      const operation = String(req.headers['x-amz-target'] ?? '').replace('DynamoDB_20120810.', '');
      const nth = counts.get(operation) ?? 0;
      counts.set(operation, nth + 1);
      const fault = rule({
        operation,
        body: JSON.parse(raw.toString() || '{}') as Record<string, unknown>,
        nth,
      });
      seen.push({ operation, fault });
      if (fault === 'fail') return req.socket.destroy();
      const headers: Record<string, string> = {};
      for (const [name, value] of Object.entries(req.headers))
        if (typeof value === 'string' && name !== 'host' && name !== 'connection') headers[name] = value;
      const answer = await fetch(target + (req.url ?? '/'), { method: req.method, headers, body: raw });
      const body = Buffer.from(await answer.arrayBuffer());
      if (fault === 'lose') {
        await meanwhile?.();
        return req.socket.destroy(); // it applied; its answer is lost
      }
      res.writeHead(answer.status, {
        'content-type': answer.headers.get('content-type') ?? 'application/json',
      });
      res.end(body);
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    /** What each request met, in order. */
    seen,
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
}

/** The `id` a request is about (Key or Item), when it names one. */
export function requestId(body: Record<string, unknown>): string | undefined {
  const key = (body.Key ?? body.Item) as Record<string, { S?: string }> | undefined;
  return key?.id?.S;
}
