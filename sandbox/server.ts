import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { jsonAnswer, type SandboxAnswer } from './answer';
import { LkeSandbox, type LkeSandboxOptions, type LkeSandboxTask } from './lke';
import {
  SmhSandbox,
  type SmhFault,
  type SmhSandboxLibrary,
  type SmhSandboxOptions,
  type SmhSandboxTask,
} from './smh';

/**
 * The local stand-in for Tencent: one loopback HTTP server that speaks LKE's Cloud API v3 on `POST /` and SMH's
 * REST API under `/api/v1/`, plus a small admin API under `/_sandbox/` that the local run uses to set task
 * states and faults (tests use the objects directly).
 */
export interface SandboxOptions {
  port?: number;
  host?: string;
  lke?: LkeSandboxOptions;
  smh?: SmhSandboxOptions;
}

export interface Sandbox {
  url: string;
  port: number;
  lke: LkeSandbox;
  smh: SmhSandbox;
  close(): Promise<void>;
}

const MAX_BODY_BYTES = 1024 * 1024;

export async function startSandbox(options: SandboxOptions = {}): Promise<Sandbox> {
  const lke = new LkeSandbox(options.lke);
  const smh = new SmhSandbox(options.smh);
  const server = createServer((req, res) => {
    void route(req, res, lke, smh).catch(() => {
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
  return { url: `http://${host}:${port}`, port, lke, smh, close: () => closeServer(server) };
}

async function route(
  req: IncomingMessage,
  res: ServerResponse,
  lke: LkeSandbox,
  smh: SmhSandbox,
): Promise<void> {
  const url = new URL(req.url ?? '/', 'http://sandbox');
  const body = await readBody(req);
  if (body === undefined) return send(res, { status: 413, headers: {}, body: '' });

  if (url.pathname.startsWith('/_sandbox')) return send(res, admin(req.method ?? 'GET', url, body, lke, smh));
  if (url.pathname.startsWith('/api/')) {
    const answer = smh.handle(req.method ?? 'GET', url.pathname, url.searchParams);
    if (answer.delayMs) await new Promise((resolve) => setTimeout(resolve, answer.delayMs));
    return send(res, answer);
  }

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

function admin(method: string, url: URL, body: Buffer, lke: LkeSandbox, smh: SmhSandbox): SandboxAnswer {
  const write = method === 'PUT' || method === 'POST';
  const input = write ? parseJson(body) : undefined;
  const invalid = (shape: string) => jsonAnswer(400, { error: `body must be ${shape}` });
  switch (`${write ? 'WRITE' : method} ${url.pathname}`) {
    case 'GET /_sandbox':
      return jsonAnswer(200, {
        lke: { tasks: lke.listTasks() },
        smh: { libraries: smh.libraryIds(), tasks: smh.listTasks() },
      });
    case 'GET /_sandbox/lke/tasks':
      return jsonAnswer(200, lke.listTasks());
    case 'WRITE /_sandbox/lke/tasks': {
      const task = parseLkeTask(input);
      if (!task) return invalid('{"botBizId","taskType","taskId","status","message"?,"cosPath"?} (strings)');
      lke.setTask(task);
      return jsonAnswer(200, task);
    }
    case 'GET /_sandbox/smh/tasks':
      return jsonAnswer(200, smh.listTasks());
    case 'WRITE /_sandbox/smh/tasks': {
      const task = input as SmhSandboxTask | undefined;
      if (
        !task ||
        typeof task.libraryId !== 'string' ||
        typeof task.status !== 'number' ||
        !/^[1-9][0-9]*$/.test(String(task.taskId))
      ) {
        return invalid(
          '{"libraryId","spaceId" (null for library level),"taskId","status" (number),"result"?}',
        );
      }
      const stored = { ...task, taskId: String(task.taskId), spaceId: task.spaceId ?? null };
      smh.setTask(stored);
      return jsonAnswer(200, stored);
    }
    case 'WRITE /_sandbox/smh/libraries': {
      const library = input as SmhSandboxLibrary | undefined;
      if (!library || typeof library.libraryId !== 'string' || typeof library.secret !== 'string') {
        return invalid('{"libraryId","secret","spaces"?: ["…"]}');
      }
      smh.setLibrary(library);
      return jsonAnswer(200, { libraryId: library.libraryId });
    }
    case 'WRITE /_sandbox/smh/faults': {
      const { times, ...fault } = (input ?? {}) as SmhFault & { times?: number };
      if (!['status', 'delay', 'raw'].includes(fault.kind)) {
        return invalid(
          '{"kind":"status","status":429,"code":"RateLimitExceeded","times"?} or {"kind":"delay","ms":…}',
        );
      }
      smh.inject(fault, typeof times === 'number' ? times : 1);
      return jsonAnswer(200, { queued: fault });
    }
    case 'DELETE /_sandbox/smh/faults':
      smh.clearFaults();
      return jsonAnswer(200, { cleared: true });
  }
  return jsonAnswer(404, { error: `no admin route ${method} ${url.pathname}` });
}

function parseJson(body: Buffer): unknown {
  try {
    return JSON.parse(body.toString('utf8'));
  } catch {
    return undefined;
  }
}

function parseLkeTask(input: unknown): LkeSandboxTask | undefined {
  try {
    const value = input as Record<string, unknown>;
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
