import { Validator } from '@seriousme/openapi-schema-validator';
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import * as errors from '../../lib/errors';
import { ERROR_CODES } from '../../lib/contract-outputs';
import { jsonSchemas, openApiDocument, ROUTES } from '../../lib/contract-docs';
import { apiIndex } from '../../functions/api/index';
import { httpEvent, lambdaContext } from '../helpers/lambda';
import { captureLog } from '../helpers/log';
import { OPENAPI_FILE, openApiChecker } from '../helpers/openapi';

const ROOT = join(__dirname, '..', '..');
const read = (path: string) => JSON.parse(readFileSync(path, 'utf8')) as unknown;

describe('generated from lib/contract.ts and lib/contract-outputs.ts (npm run schemas)', () => {
  it('schemas/*.json are up to date, and nothing else is there', () => {
    const expected = jsonSchemas();
    expect(readdirSync(join(ROOT, 'schemas')).sort()).toEqual(Object.keys(expected).sort());
    for (const [file, schema] of Object.entries(expected)) {
      expect({ file, schema: read(join(ROOT, 'schemas', file)) }).toEqual({ file, schema });
    }
  });

  it('openapi.json is up to date', () => {
    const { version } = read(join(ROOT, 'package.json')) as { version: string };
    expect(read(OPENAPI_FILE)).toEqual(openApiDocument(version));
  });

  it('openapi.json is a valid OpenAPI 3.1 document', async () => {
    const result = await new Validator().validate(read(OPENAPI_FILE) as Record<string, unknown>);
    expect(result.errors ?? []).toEqual([]);
    expect(result.valid).toBe(true);
    expect((read(OPENAPI_FILE) as { openapi: string }).openapi).toBe('3.1.0');
  });

  it('documents exactly the routes serverless.yml declares', () => {
    const yml = readFileSync(join(ROOT, 'serverless.yml'), 'utf8');
    const declared = [...yml.matchAll(/- httpApi:\s*\n\s*method: ([A-Z]+)\s*\n\s*path: (\S+)/g)].map(
      ([, method, path]) => `${method} ${path}`,
    );
    expect(declared.sort()).toEqual(ROUTES.map((r) => `${r.method.toUpperCase()} ${r.path}`).sort());
    expect(yml).toMatch(/method: '\*'\s*\n\s*path: '\*'/); // and the catch-all
  });

  it('lists every error code the functions answer, with its HTTP status, as the README does', () => {
    const readme = readFileSync(join(ROOT, 'README.md'), 'utf8').split('### Errors')[1]!.split('\n## ')[0]!;
    const table = new Map<string, number>();
    for (const [, status, codes] of readme.matchAll(/^\| (\d{3})\s+\| (`[^|]+`)\s+\|/gm)) {
      for (const [, code] of codes!.matchAll(/`([A-Za-z]+)`/g)) table.set(code!, Number(status));
    }
    expect(Object.fromEntries(table)).toEqual(ERROR_CODES);
    for (const value of Object.values(errors) as unknown[]) {
      if (typeof value !== 'function') continue;
      let instance: unknown;
      try {
        instance = new (value as new (message: string, details: object) => unknown)('x', { provider: 'lke' });
      } catch {
        continue; // abstract
      }
      if (!(instance instanceof errors.TrackerError)) continue;
      // Generic defaults whose callers name the code (NotFound, Conflict; ConfigurationError takes it as an argument).
      if (typeof instance.code !== 'string' || ['NotFound', 'Conflict'].includes(instance.code)) continue;
      expect({ code: instance.code, status: ERROR_CODES[instance.code] }).toEqual({
        code: instance.code,
        status: instance.httpStatus,
      });
    }
  });
});

describe('apiIndex', () => {
  const handler = apiIndex({ log: captureLog() });
  const checker = openApiChecker();

  it('answers GET /openapi.json with the document', async () => {
    const response = (await handler(
      httpEvent('GET', '/openapi.json', { routeKey: 'GET /openapi.json' }),
      lambdaContext(5_000),
    )) as { statusCode: number; body: string };
    expect(response.statusCode).toBe(200);
    expect(JSON.parse(response.body)).toEqual(read(OPENAPI_FILE));
  });

  it('answers any other route 404 RouteNotFound in our error shape, naming the routes', async () => {
    const response = (await handler(
      httpEvent('DELETE', '/lke/tasks/8', { routeKey: '$default' }),
      lambdaContext(5_000),
    )) as { statusCode: number; body: string };
    expect(response.statusCode).toBe(404);
    const body = JSON.parse(response.body) as { error: { code: string; message: string } };
    expect(body.error.code).toBe('RouteNotFound');
    expect(body.error.message).toContain('No route matches DELETE /lke/tasks/8');
    expect(body.error.message).toContain('GET /lke/tasks/{taskId}');
    expect(checker.check('delete', 'http://x/lke/tasks/8', 404, body)).toEqual([]);
    // The checker itself fails a body that does not match.
    expect(
      checker.check('get', 'http://x/tasks/lke_AAAAAAAAAAAAAAAAAAAAAAAA', 200, { items: [] }),
    ).not.toEqual([]);
  });
});
