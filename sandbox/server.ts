import { existsSync, mkdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { dirname } from 'node:path';
import { parseJson as parseJsonText, stringifyJson } from '../lib/json';
import { jsonAnswer, type SandboxAnswer } from './answer';
import { LkeSandbox, type LkeFault, type LkeSandboxOptions, type LkeSandboxTask } from './lke';
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
 * states and faults (tests use the objects directly). With `statePath`, tasks and libraries are saved there on
 * every admin change and restored at start, so they outlive a restart (as tracked records do).
 */
export interface SandboxOptions {
  port?: number;
  host?: string;
  lke?: LkeSandboxOptions;
  smh?: SmhSandboxOptions;
  /** A JSON file keeping tasks and libraries across restarts (`npm start`: `.data/sandbox.json`). */
  statePath?: string;
}

export interface Sandbox {
  url: string;
  port: number;
  lke: LkeSandbox;
  smh: SmhSandbox;
  /**
   * Serves SMH for the given libraries on a host (port) of their own, as Tencent serves a library on
   * `<libraryId>.api.tencentsmh.cn`; other libraries are unknown there. Answers its base URL.
   */
  libraryHost(libraryIds: string[]): Promise<string>;
  /** Writes the state file now (admin changes do it by themselves). */
  save(): void;
  close(): Promise<void>;
}

const MAX_BODY_BYTES = 1024 * 1024;

interface Parts {
  lke: LkeSandbox;
  smh: SmhSandbox;
  save(): void;
}

export async function startSandbox(options: SandboxOptions = {}): Promise<Sandbox> {
  const lke = new LkeSandbox(options.lke);
  const smh = new SmhSandbox(options.smh);
  const { statePath } = options;
  if (statePath && existsSync(statePath)) {
    try {
      const state = parseJsonText(readFileSync(statePath, 'utf8')) as { lke?: object; smh?: object };
      lke.restore(state.lke ?? {});
      smh.restore(state.smh ?? {});
    } catch (error) {
      throw new Error(
        `the sandbox state in ${statePath} is unreadable (${(error as Error).message}); delete it`,
      );
    }
  }
  const save = () => {
    if (!statePath) return;
    mkdirSync(dirname(statePath), { recursive: true });
    writeFileSync(`${statePath}.tmp`, stringifyJson({ lke: lke.snapshot(), smh: smh.snapshot() }, 1));
    renameSync(`${statePath}.tmp`, statePath);
  };
  const parts = { lke, smh, save };
  const host = options.host ?? '127.0.0.1';
  const servers: Server[] = [];
  const listen = async (port: number, libraries?: ReadonlySet<string>) => {
    const server = createServer((req, res) => {
      void route(req, res, parts, libraries).catch(() => {
        if (!res.headersSent) send(res, { status: 500, headers: {}, body: '' });
        else res.destroy();
      });
    });
    // Node's default. Clients take a second off the server's `Keep-Alive: timeout` hint, so a 1 s timeout had
    // every Node client open a connection per request; connections are reused against Tencent's endpoints.
    server.keepAliveTimeout = 5000;
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(port, host, resolve);
    });
    servers.push(server);
    return (server.address() as AddressInfo).port;
  };
  const port = await listen(options.port ?? 0);
  return {
    url: `http://${host}:${port}`,
    port,
    lke,
    smh,
    libraryHost: async (libraryIds) => `http://${host}:${await listen(0, new Set(libraryIds))}`,
    save,
    close: async () => {
      save();
      await Promise.all(servers.map(closeServer));
    },
  };
}

/** The library a request to SMH is about (path or token query), for a host that serves only some. */
function smhLibraryOf(url: URL): string | undefined {
  if (url.pathname === '/api/v1/token') return url.searchParams.get('library_id') ?? undefined;
  const segment = /^\/api\/v1\/task(?:-result)?\/([^/]+)/.exec(url.pathname)?.[1];
  try {
    return segment === undefined ? undefined : decodeURIComponent(segment);
  } catch {
    return undefined;
  }
}

async function route(
  req: IncomingMessage,
  res: ServerResponse,
  { lke, smh, save }: Parts,
  libraries?: ReadonlySet<string>,
): Promise<void> {
  const url = new URL(req.url ?? '/', 'http://sandbox');
  const body = await readBody(req);
  if (body === undefined) return send(res, { status: 413, headers: {}, body: '' });

  if (libraries) {
    // A library's own host: SMH for its libraries only.
    const libraryId = smhLibraryOf(url);
    if (!url.pathname.startsWith('/api/') || libraryId === undefined || !libraries.has(libraryId)) {
      return send(res, jsonAnswer(404, { code: 'LibraryNotFound', message: 'The library does not exist' }));
    }
  }
  if (url.pathname.startsWith('/_sandbox')) {
    const answer = admin(req.method ?? 'GET', url, body, lke, smh);
    if (req.method !== 'GET' && answer.status < 300) save();
    return send(res, answer);
  }
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
    case 'GET /_sandbox/lke/counters':
      return jsonAnswer(200, {
        requests: lke.requestCount,
        throttled: lke.throttledCount,
        peakPerSecond: lke.peakPerSecond,
        perSecond: lke.requestCount > 1 ? ((lke.requestCount - 1) * 1000) / (lke.lastAt - lke.firstAt) : 0,
      });
    case 'DELETE /_sandbox/lke/counters':
      lke.resetCounters();
      return jsonAnswer(200, { reset: true });
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
    case 'DELETE /_sandbox/smh/tasks': {
      const { libraryId, taskId } = Object.fromEntries(url.searchParams);
      return jsonAnswer(smh.deleteTask(libraryId ?? '', taskId ?? '') ? 200 : 404, { libraryId, taskId });
    }
    case 'WRITE /_sandbox/smh/libraries': {
      const library = parseLibrary(input);
      if (!library) {
        return invalid(
          '{"libraryId","secret","spaces"?: ["…"] (multi-tenant),"unknownTaskIds"?: "omit"|"refuse","idField"?: "taskId"|"id"}',
        );
      }
      smh.setLibrary(library);
      return jsonAnswer(200, {
        libraryId: library.libraryId,
        note:
          'Saved in the sandbox state. The service reads library secrets when it starts: restart npm start (in ' +
          `sandbox mode it configures every sandbox library), or add "${library.libraryId}" to SMH_LIBRARY_SECRETS.`,
      });
    }
    case 'WRITE /_sandbox/lke/faults': {
      const { times, ...fault } = (input ?? {}) as LkeFault & { times?: number };
      if (fault.kind !== 'error' || typeof fault.code !== 'string') {
        return invalid('{"kind":"error","code":"ServiceUnavailable","times"?}');
      }
      lke.inject(fault, typeof times === 'number' ? times : 1);
      return jsonAnswer(200, { queued: fault });
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

function parseLibrary(input: unknown): SmhSandboxLibrary | undefined {
  const value = (input ?? {}) as Record<string, unknown>;
  const { libraryId, secret, spaces, unknownTaskIds, idField } = value;
  if (typeof libraryId !== 'string' || !/^[A-Za-z0-9_-]{1,64}$/.test(libraryId)) return undefined;
  if (typeof secret !== 'string' || !secret) return undefined;
  if (spaces !== undefined && !(Array.isArray(spaces) && spaces.every((s) => typeof s === 'string')))
    return undefined;
  if (unknownTaskIds !== undefined && unknownTaskIds !== 'omit' && unknownTaskIds !== 'refuse')
    return undefined;
  if (idField !== undefined && idField !== 'taskId' && idField !== 'id') return undefined;
  return {
    libraryId,
    secret,
    ...(spaces ? { spaces: spaces as string[] } : {}),
    ...(unknownTaskIds ? { unknownTaskIds } : {}),
    ...(idField ? { idField } : {}),
  };
}

/** An admin body; numbers a double does not keep (a task's `result`) are kept exactly, as ExactNumber. */
function parseJson(body: Buffer): unknown {
  try {
    return parseJsonText(body.toString('utf8'));
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
