// The Signature V4 the table client had before aws4 (lib/aws/sigv4.ts until issue 17), kept for `npm run bench`
// only: its cold start beside the maintained signers.
import { createHash, createHmac } from 'node:crypto';

/** AWS credentials: what the Lambda runtime puts in the environment (a role's temporary keys). */
export interface AwsCredentials {
  accessKeyId: string;
  secretAccessKey: string;
  sessionToken?: string;
}

export interface SignableRequest {
  method: string;
  /** The request URL (path and query are signed as given; AWS JSON APIs use `/` and no query). */
  url: URL;
  headers: Record<string, string>;
  body: string;
}

const sha256 = (data: string) => createHash('sha256').update(data, 'utf8').digest('hex');
const hmac = (key: string | Buffer, data: string) => createHmac('sha256', key).update(data, 'utf8').digest();

/** `20150830T123600Z`: the ISO basic format SigV4 wants. */
export function amzDate(at: Date): string {
  return at
    .toISOString()
    .replace(/[-:]/g, '')
    .replace(/\.\d{3}/, '');
}

/**
 * Signature Version 4 (https://docs.aws.amazon.com/IAM/latest/UserGuide/create-signed-request.html) for the
 * requests this service makes: AWS JSON protocol POSTs to `/`. Adds `x-amz-date`, `x-amz-security-token` (with
 * temporary credentials) and `authorization` to the headers it answers; every header given is signed. Checked
 * against AWS's published example and against the AWS SDK's own signer in test/unit/aws-client.test.ts.
 */
export function signRequest(
  request: SignableRequest,
  credentials: AwsCredentials,
  scope: { region: string; service: string },
  at: Date = new Date(),
): Record<string, string> {
  const stamp = amzDate(at);
  const day = stamp.slice(0, 8);
  const headers: Record<string, string> = { ...request.headers, host: request.url.host, 'x-amz-date': stamp };
  if (credentials.sessionToken) headers['x-amz-security-token'] = credentials.sessionToken;
  const names = Object.keys(headers)
    .map((name) => name.toLowerCase())
    .sort();
  const lower = Object.fromEntries(Object.entries(headers).map(([k, v]) => [k.toLowerCase(), v]));
  const signedHeaders = names.join(';');
  const canonicalQuery = [...request.url.searchParams.entries()]
    .map(([k, v]) => `${encodeRfc3986(k)}=${encodeRfc3986(v)}`)
    .sort()
    .join('&');
  const canonical = [
    request.method,
    request.url.pathname.split('/').map(encodeRfc3986).join('/') || '/',
    canonicalQuery,
    names.map((name) => `${name}:${String(lower[name]).trim().replace(/\s+/g, ' ')}\n`).join(''),
    signedHeaders,
    sha256(request.body),
  ].join('\n');
  const credentialScope = `${day}/${scope.region}/${scope.service}/aws4_request`;
  const toSign = ['AWS4-HMAC-SHA256', stamp, credentialScope, sha256(canonical)].join('\n');
  const key = hmac(
    hmac(hmac(hmac(`AWS4${credentials.secretAccessKey}`, day), scope.region), scope.service),
    'aws4_request',
  );
  const signature = createHmac('sha256', key).update(toSign, 'utf8').digest('hex');
  return {
    ...headers,
    authorization:
      `AWS4-HMAC-SHA256 Credential=${credentials.accessKeyId}/${credentialScope}, ` +
      `SignedHeaders=${signedHeaders}, Signature=${signature}`,
  };
}

function encodeRfc3986(text: string): string {
  return encodeURIComponent(text).replace(
    /[!'()*]/g,
    (c) => `%${c.charCodeAt(0).toString(16).toUpperCase()}`,
  );
}

/** The credentials the Lambda runtime gives a function (its role), from the environment. */
export function environmentCredentials(env: NodeJS.ProcessEnv = process.env): AwsCredentials | undefined {
  const accessKeyId = env.AWS_ACCESS_KEY_ID?.trim();
  const secretAccessKey = env.AWS_SECRET_ACCESS_KEY?.trim();
  if (!accessKeyId || !secretAccessKey) return undefined;
  const sessionToken = env.AWS_SESSION_TOKEN?.trim();
  return sessionToken ? { accessKeyId, secretAccessKey, sessionToken } : { accessKeyId, secretAccessKey };
}
