import http from 'node:http';
import https from 'node:https';

/** The `code` of the error a cut answer fails with (node-fetch copies it onto the FetchError `res.json()` throws). */
export const CONNECTION_CUT = 'ERR_CONNECTION_CUT';

/** What Node's global agents use (Node ≥ 19): the SDK's requests sent through ours behave as before. */
const AGENT_OPTIONS = { keepAlive: true, scheduling: 'lifo', timeout: 5000 } as const;

type AddRequest = (request: http.ClientRequest, options: unknown) => void;

const agents = new Map<string, http.Agent>();

/**
 * An agent for the Tencent SDK's requests that notices at once when the connection is cut in the middle of an
 * answer. The SDK reads answers with node-fetch 2, which pipes the response into a PassThrough (`res.pipe()`
 * forwards no error): when the socket closes after the headers, Node destroys the response, but node-fetch sees
 * it only for a chunked body ("Premature close"); with a Content-Length, `res.json()` waits until the attempt
 * times out. Here a response that closes incomplete makes its request emit an error, which node-fetch passes on
 * to the body (its `req.on('error')` handler destroys `response.body`), so `res.json()` rejects at once with a
 * FetchError of type `system` and code CONNECTION_CUT.
 *
 * One agent per protocol per container, like Node's global agents. `addRequest` is how every custom agent
 * (agent-base, the proxy agents) sees its requests; @types/node does not declare it.
 */
export function cutAwareAgent(protocol: string): http.Agent {
  let agent = agents.get(protocol);
  if (!agent) {
    agent = protocol === 'https:' ? new https.Agent(AGENT_OPTIONS) : new http.Agent(AGENT_OPTIONS);
    const hooked = agent as http.Agent & { addRequest: AddRequest };
    const addRequest = hooked.addRequest;
    hooked.addRequest = function (this: http.Agent, request, options) {
      watchForCut(request);
      addRequest.call(this, request, options);
    };
    agents.set(protocol, agent);
  }
  return agent;
}

function watchForCut(request: http.ClientRequest): void {
  request.once('response', (response: http.IncomingMessage) => {
    response.once('close', () => {
      // `complete`: the whole message arrived. Without an error listener (no node-fetch) there is no one to tell.
      if (response.complete || request.listenerCount('error') === 0) return;
      const error = new Error('the connection was cut before the whole answer arrived') as Error & {
        code: string;
      };
      error.code = CONNECTION_CUT;
      request.emit('error', error);
    });
  });
}
