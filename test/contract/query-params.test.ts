import type { APIGatewayProxyStructuredResultV2 } from 'aws-lambda';
import { apiIndex } from '../../functions/api/index';
import { lkeStatus } from '../../functions/lke/status';
import { trackLke } from '../../functions/lke/track';
import { smhStatus } from '../../functions/smh/status';
import { trackSmh } from '../../functions/smh/track';
import { getTask } from '../../functions/tasks/get';
import { listTasks } from '../../functions/tasks/list';
import { untrackTask } from '../../functions/tasks/untrack';
import { QUERY_PARAMS } from '../../lib/contract';
import { ROUTES } from '../../lib/contract-docs';
import document from '../../openapi.json';
import { httpEvent, lambdaContext } from '../helpers/lambda';
import { captureLog } from '../helpers/log';

/**
 * Every route refuses a query parameter it does not take, naming it (issue 16: `GET /tasks?provider=lke&taskId=999`
 * answered other tasks, as if the filter had worked), and takes every one openapi.json documents for it. Nothing
 * here reaches an upstream or the table: each dependency throws if it is called, but for the listing's store.
 */
const log = captureLog();
const never = () => {
  throw new Error('no call may leave the function here');
};
const emptyStore = () =>
  ({
    within() {
      return this;
    },
    list: async () => ({ items: [] }),
  }) as never;
type Handler = (event: unknown, context: unknown) => Promise<unknown>;
const HANDLERS: Record<string, Handler> = {
  lkeStatus: lkeStatus({ lke: never, store: never, log }) as Handler,
  smhStatus: smhStatus({ smh: never, store: never, log }) as Handler,
  smhLibraryStatus: smhStatus({ smh: never, store: never, log }) as Handler,
  trackLke: trackLke({ store: never, log }) as Handler,
  trackSmh: trackSmh({ store: never, log }) as Handler,
  getTask: getTask({ store: never, log }) as Handler,
  untrackTask: untrackTask({ store: never, log }) as Handler,
  listTasks: listTasks({ store: emptyStore, log }) as Handler,
  openApi: apiIndex({ log }) as Handler,
};

async function send(route: (typeof ROUTES)[number], query: Record<string, string>) {
  const path = route.path.replace(/\{(\w+)\}/g, '$1-value');
  const response = (await (HANDLERS[route.operationId] as Handler)(
    httpEvent(route.method.toUpperCase(), path, {
      routeKey: `${route.method.toUpperCase()} ${route.path}`,
      query,
      ...(route.method === 'post' ? { body: {} } : {}),
    }),
    lambdaContext(),
  )) as APIGatewayProxyStructuredResultV2;
  return { status: response.statusCode, body: JSON.parse(response.body as string) as Record<string, never> };
}
const documented = (route: (typeof ROUTES)[number]) =>
  (route.parameters ?? []).flatMap((p) => (p.in === 'query' ? [String(p.name)] : []));

describe.each(ROUTES.map((route) => [`${route.method.toUpperCase()} ${route.path}`, route] as const))(
  '%s',
  (_name, route) => {
    it('refuses an unknown query parameter with a 400 naming it', async () => {
      const { status, body } = await send(route, { taskid: '999', zzz: '1' });
      expect(status).toBe(400);
      // …an answer openapi.json documents for the route.
      const responses = (document.paths as Record<string, Record<string, { responses: object }>>)[
        route.path
      ]?.[route.method]?.responses;
      expect(Object.keys(responses ?? {})).toContain('400');
      expect(body).toMatchObject({
        error: {
          code: 'InvalidParameter',
          message: expect.stringMatching(/^Unknown query parameters "taskid", "zzz": this route takes /),
        },
      });
      const takes = documented(route).sort();
      const message = (body as unknown as { error: { message: string } }).error.message;
      const listed = message.replace(/^.*this route takes /, '');
      expect(listed === 'none' ? [] : listed.split(', ').sort()).toEqual(takes);
    });

    it('takes every query parameter openapi.json documents for it', async () => {
      for (const name of documented(route)) {
        const { body } = await send(route, { [name]: '' });
        expect(JSON.stringify(body)).not.toContain('Unknown query parameter');
      }
    });
  },
);

it('documents exactly the query parameters each function takes', () => {
  const byOperation = Object.fromEntries(ROUTES.map((r) => [r.operationId, documented(r)]));
  const sorted = (names: readonly string[] = []) => [...names].sort();
  expect(sorted(byOperation.lkeStatus)).toEqual(sorted(QUERY_PARAMS.lkeStatus));
  expect(sorted(byOperation.smhStatus)).toEqual(sorted(QUERY_PARAMS.smhStatus));
  expect(sorted(byOperation.smhLibraryStatus)).toEqual(sorted(QUERY_PARAMS.smhStatus));
  expect(sorted(byOperation.listTasks)).toEqual(sorted(QUERY_PARAMS.listTasks));
});

it('answers 404 RouteNotFound for a route that does not exist, whatever its query', async () => {
  const response = (await (HANDLERS.openApi as Handler)(
    httpEvent('GET', '/nowhere', { routeKey: '$default', query: { zzz: '1' } }),
    lambdaContext(),
  )) as APIGatewayProxyStructuredResultV2;
  expect(response.statusCode).toBe(404);
  expect(JSON.parse(response.body as string)).toMatchObject({ error: { code: 'RouteNotFound' } });
});
