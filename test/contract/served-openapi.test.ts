import { readFileSync } from 'node:fs';
import { apiIndex } from '../../functions/api/index';
import { httpEvent, lambdaContext } from '../helpers/lambda';
import { captureLog } from '../helpers/log';
import { OPENAPI_FILE } from '../helpers/openapi';

/**
 * The served openapi.json names the place it was served from in `servers` (issue 16: under `npm start` with
 * another PORT it still said localhost:3000), and nothing but a host name from the request.
 */
const committed = JSON.parse(readFileSync(OPENAPI_FILE, 'utf8')) as {
  servers: { url: string; description: string }[];
};
const handler = apiIndex({ log: captureLog() });

async function served(headers: Record<string, string>) {
  const event = httpEvent('GET', '/openapi.json', { routeKey: 'GET /openapi.json' });
  event.headers = headers;
  const response = (await handler(event, lambdaContext(5_000))) as { statusCode: number; body: string };
  expect(response.statusCode).toBe(200);
  return JSON.parse(response.body) as typeof committed;
}

it('committed, it names npm start on its default port', () => {
  expect(committed.servers).toEqual([
    { url: 'http://localhost:3000', description: 'npm start (sandbox mode, no signing)' },
  ]);
});

it.each([
  ['npm start with PORT=3456', { host: 'localhost:3456' }, 'http://localhost:3456'],
  ['npm start reached by address', { host: '127.0.0.1:4000' }, 'http://127.0.0.1:4000'],
  ['npm start over IPv6', { host: '[::1]:3001' }, 'http://[::1]:3001'],
])('names where it is served: %s', async (_, headers, url) => {
  const document = await served(headers);
  expect(document.servers).toEqual([{ url, description: committed.servers[0]!.description }]);
  expect({ ...document, servers: committed.servers }).toEqual(committed); // and nothing else changes
});

it('names the API on API Gateway, with the scheme it says (X-Forwarded-Proto)', async () => {
  const host = 'abc123defg.execute-api.ap-southeast-1.amazonaws.com';
  const document = await served({ host, 'x-forwarded-proto': 'https', 'x-forwarded-port': '443' });
  expect(document.servers).toEqual([{ url: `https://${host}`, description: expect.stringMatching(/SigV4/) }]);
  expect({ ...document, servers: committed.servers }).toEqual(committed);
});

it.each([
  ['no Host header', {}],
  ['the default port', { host: 'localhost:3000' }],
  ['a Host header with a path', { host: 'evil.example/phish' }],
  ['a Host header with a user', { host: 'user@evil.example' }],
  ['a Host header with markup', { host: '<script>x</script>' }],
  ['a Host header with spaces', { host: 'a b' }],
  ['an over-long Host header', { host: `${'a.'.repeat(200)}example` }],
])('answers the committed document for %s', async (_, headers) => {
  expect(await served(headers)).toEqual(committed);
});

it('answers a direct invoke with the committed document, whatever origin it names', async () => {
  for (const input of [
    {},
    { http: { method: 'GET', path: '/openapi.json', origin: 'javascript:alert(1)' } },
    { http: { method: 'GET', path: '/openapi.json', origin: 'http://evil.example/x' } },
  ]) {
    expect(await handler(input, lambdaContext(5_000))).toEqual(committed);
  }
});
