import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { LkeSandbox, type LkeSandboxOptions, type LkeSandboxTask, type SandboxAnswer } from './lke';

/**
 * The local stand-in for Tencent: one loopback HTTP server that speaks LKE's Cloud API v3 on `POST /`, plus a
 * small admin API under `/_sandbox/` that the local run uses to set task states (tests use the objects directly).
 */
export interface SandboxOptions {
  port?: number;
  host?: string;
  lke?: LkeSandboxOptions;
}

export interface Sandbox {
  url: string;
  port: number;
  lke: LkeSandbox;
  close(): Promise<void>;
}

const MAX_BODY_BYTES = 1024 * 1024;

export async function startSandbox(options: SandboxOptions = {}): Promise<Sandbox> {
  const lke = new LkeSandbox(options.lke);
  const server = createServer((req, res) => {
    void route(req, res, lke).catch(() => {
      if (!res.headersSent) send(res, { status: 500, headers: {}, body: '' });
      else res.destroy();
    });
  });
  server.keepAliveTimeout = 1000;
  const host = options.host ?? '127.0.0.1';
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(options.port ?? 0, host, resolve);
  });
  const { port } = server.address() as AddressInfo;
  return { url: `http://${host}:${port}`, port, lke, close: () => closeServer(server) };
}

async function route(req: IncomingMessage, res: ServerResponse, lke: LkeSandbox): Promise<void> {
  const url = new URL(req.url ?? '/', 'http://sandbox');
  const body = await readBody(req);
  if (body === undefined) return send(res, { status: 413, headers: {}, body: '' });

  if (url.pathname.startsWith('/_sandbox')) return send(res, admin(req.method ?? 'GET', url, body, lke));

  const headers: Record<string, string | undefined> = {};
  for (const [name, value] of Object.entries(req.headers)) {
    headers[name] = Array.isArray(value) ? value.join(',') : value;
  }
  const answer = lke.handle({
    method: req.method ?? 'GET',
    path: url.pathname,
    query: url.search.slice(1),
    headers,
    body,
  });
  if (answer.delayMs) await new Promise((resolve) => setTimeout(resolve, answer.delayMs));
  return send(res, answer);
}

function admin(method: string, url: URL, body: Buffer, lke: LkeSandbox): SandboxAnswer {
  const ok = (value: unknown, status = 200): SandboxAnswer => ({
    status,
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify(value),
  });
  if (url.pathname === '/_sandbox/lke/tasks') {
    if (method === 'GET') return ok(lke.listTasks());
    if (method === 'PUT' || method === 'POST') {
      const task = parseLkeTask(body);
      if (!task) {
        return ok(
          { error: 'body must be {"botBizId","taskType","taskId","status","message"?,"cosPath"?} (strings)' },
          400,
        );
      }
      lke.setTask(task);
      return ok(task);
    }
  }
  return ok({ error: `no admin route ${method} ${url.pathname}` }, 404);
}

function parseLkeTask(body: Buffer): LkeSandboxTask | undefined {
  try {
    const value = JSON.parse(body.toString('utf8')) as Record<string, unknown>;
    const { botBizId, taskType, taskId, status, message, cosPath } = value;
    const isText = (v: unknown) => typeof v === 'string' && v.length > 0;
    if (!isText(botBizId) || !isText(taskType) || !isText(taskId)) return undefined;
    if (status !== null && typeof status !== 'string') return undefined;
    return {
      botBizId: botBizId as string,
      taskType: taskType as string,
      taskId: taskId as string,
      status: status as string | null,
      message: typeof message === 'string' ? message : '',
      cosPath: typeof cosPath === 'string' ? cosPath : '',
    };
  } catch {
    return undefined;
  }
}

function readBody(req: IncomingMessage): Promise<Buffer | undefined> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    req.on('data', (chunk: Buffer) => {
      size += chunk.length;
      if (size > MAX_BODY_BYTES) {
        resolve(undefined);
        req.destroy();
        return;
      }
      chunks.push(chunk);
    });
    req.on('end', () => resolve(Buffer.concat(chunks)));
    req.on('error', reject);
  });
}

function send(res: ServerResponse, answer: SandboxAnswer): void {
  res.writeHead(answer.status, { ...answer.headers, 'content-length': Buffer.byteLength(answer.body) });
  res.end(answer.body);
}

function closeServer(server: Server): Promise<void> {
  return new Promise((resolve) => {
    server.close(() => resolve());
    server.closeAllConnections();
  });
}
