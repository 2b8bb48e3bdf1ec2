import Ajv from 'ajv/dist/2020';
import addFormats from 'ajv-formats';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { startLocalRun } from './local-run';

/**
 * Checks real HTTP answers against the committed `openapi.json`: the route and method must be documented, the
 * status must be one of the route's responses, and the body must match that response's schema.
 */
export const OPENAPI_FILE = join(__dirname, '..', '..', 'openapi.json');

interface Operation {
  responses: Record<string, { content?: Record<string, unknown> }>;
}
type Document = { paths: Record<string, Record<string, Operation>> };

export function openApiChecker() {
  const document = JSON.parse(readFileSync(OPENAPI_FILE, 'utf8')) as Document;
  const ajv = new Ajv({ strict: false, allErrors: true });
  addFormats(ajv);
  ajv.addSchema(document, 'openapi.json');
  const templates = Object.keys(document.paths).map((template) => ({
    template,
    pattern: new RegExp(`^${template.replace(/[.]/g, '\\.').replace(/\{[^}]+\}/g, '[^/]+')}$`),
  }));
  const pointer = (...parts: string[]) =>
    parts.map((p) => p.replace(/~/g, '~0').replace(/\//g, '~1')).join('/');

  /** Problems with one answer (empty when it conforms). */
  function check(method: string, url: string, status: number, body: unknown): string[] {
    // Matched as sent, like API Gateway: an encoded "/" (%2F) stays inside its segment.
    const path = new URL(url).pathname;
    const matched = templates.find((t) => t.pattern.test(path) && document.paths[t.template]![method]);
    // Anything else is the catch-all's: 404 RouteNotFound.
    const template = matched?.template;
    const responses = template
      ? document.paths[template]![method]!.responses
      : { '404': document.paths['/openapi.json']!.get!.responses['404']! };
    const where = `${method.toUpperCase()} ${path} (${template ?? '$default'}) → ${status}`;
    if (!template && status !== 404) return [`${where}: an undocumented route answered ${status}`];
    if (!responses[String(status)]) return [`${where}: status not documented`];
    const at = template
      ? pointer('paths', template, method, 'responses')
      : pointer('paths', '/openapi.json', 'get', 'responses');
    const validate = ajv.getSchema(`openapi.json#/${at}/${status}/content/application~1json/schema`);
    if (!validate) return [`${where}: no schema`];
    if (validate(body)) return [];
    return [`${where}: ${ajv.errorsText(validate.errors)}`];
  }

  const problems: string[] = [];
  const apis: string[] = [];
  /** `fetch`, checking every answer of an API registered with `serve` on the way. */
  const checkedFetch: typeof fetch = async (input, init) => {
    const response = await globalThis.fetch(input, init);
    const url = String(input instanceof Request ? input.url : input);
    if (apis.some((base) => url.startsWith(`${base}/`))) {
      const method = (init?.method ?? 'GET').toLowerCase();
      const text = await response.clone().text();
      let body: unknown;
      try {
        body = JSON.parse(text);
      } catch {
        body = text;
      }
      problems.push(...check(method, url, response.status, body));
    }
    return response;
  };
  return { check, fetch: checkedFetch, serve: (baseUrl: string) => apis.push(baseUrl), problems };
}

/**
 * For an end-to-end file: `fetch`, and `startLocalRun` whose HTTP API is checked, so that every answer of the
 * file is checked against openapi.json (route, status and body); the file fails on the first that does not match.
 */
export function checkedLocalRuns() {
  const api = openApiChecker();
  afterAll(() => expect(api.problems).toEqual([]));
  return {
    fetch: api.fetch,
    startLocalRun: async (env?: Record<string, string>) => {
      const started = await startLocalRun(env);
      api.serve(started.baseUrl);
      return started;
    },
  };
}
