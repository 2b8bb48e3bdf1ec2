import { createHash, createHmac, timingSafeEqual } from 'node:crypto';

/**
 * TC3-HMAC-SHA256 (Tencent Cloud API signature v3) verification, as Tencent's gateway does it.
 *
 * CanonicalRequest = METHOD \n path \n query \n canonical headers \n signed headers \n hex(sha256(body))
 * StringToSign     = TC3-HMAC-SHA256 \n timestamp \n date/service/tc3_request \n hex(sha256(CanonicalRequest))
 * kDate = HMAC("TC3"+key, date); kService = HMAC(kDate, service); kSigning = HMAC(kService, "tc3_request")
 *
 * The service is the first label of the host, as at Tencent (`lke.tencentcloudapi.com` → `lke`); the host is
 * compared without its port, because the SDK signs `URL.hostname`.
 */

export const ALGORITHM = 'TC3-HMAC-SHA256';
export const CLOCK_SKEW_SECONDS = 300;

export interface Tc3Request {
  method: string;
  path: string;
  query: string;
  /** Header names lower-cased. */
  headers: Record<string, string | undefined>;
  body: Buffer;
}

export interface Tc3Secret {
  secretKey: string;
  /** When set, requests must carry this `X-TC-Token` (temporary credentials). */
  token?: string;
}

export type Tc3Failure = { code: string; message: string };
export type Tc3Result = { ok: true; secretId: string } | ({ ok: false } & Tc3Failure);

const sha256 = (data: string | Buffer) => createHash('sha256').update(data).digest('hex');
const hmac = (key: string | Buffer, data: string) => createHmac('sha256', key).update(data).digest();

export function signingKey(secretKey: string, date: string, service: string): Buffer {
  return hmac(hmac(hmac(`TC3${secretKey}`, date), service), 'tc3_request');
}

export function canonicalRequest(request: Tc3Request, signedHeaders: string[]): string {
  const headers = signedHeaders
    .map((name) => `${name}:${canonicalHeaderValue(name, request.headers[name] ?? '')}\n`)
    .join('');
  return [
    request.method.toUpperCase(),
    request.path,
    request.query,
    headers,
    signedHeaders.join(';'),
    sha256(request.body),
  ].join('\n');
}

function canonicalHeaderValue(name: string, value: string): string {
  const trimmed = value.trim().toLowerCase();
  return name === 'host' ? stripPort(trimmed) : trimmed;
}

function stripPort(host: string): string {
  if (host.startsWith('[')) return host.slice(0, host.indexOf(']') + 1);
  const colon = host.lastIndexOf(':');
  return colon === -1 ? host : host.slice(0, colon);
}

export function utcDate(timestampSeconds: number): string {
  return new Date(timestampSeconds * 1000).toISOString().slice(0, 10);
}

const fail = (code: string, message: string): Tc3Result => ({ ok: false, code, message });

/**
 * Verifies a signed request. Error codes are Tencent's own (`AuthFailure.*`), checked in Tencent's order:
 * malformed header, clock window, unknown SecretId, token, then the signature itself.
 */
export function verifyTc3(
  request: Tc3Request,
  lookup: (secretId: string) => Tc3Secret | undefined,
  nowSeconds: number = Math.floor(Date.now() / 1000),
): Tc3Result {
  const authorization = request.headers['authorization'];
  if (!authorization)
    return fail('AuthFailure.SignatureFailure', 'The request is missing the Authorization header.');
  const match =
    /^TC3-HMAC-SHA256 Credential=([^/,\s]+)\/(\d{4}-\d{2}-\d{2})\/([^/,\s]+)\/tc3_request, ?SignedHeaders=([a-z0-9;-]+), ?Signature=([0-9a-f]{64})$/.exec(
      authorization.trim(),
    );
  if (!match)
    return fail('AuthFailure.InvalidAuthorization', 'The Authorization header is not TC3-HMAC-SHA256.');
  const [, secretId, date, service, signedHeaderList, signature] = match as unknown as string[];
  const signedHeaders = (signedHeaderList as string).split(';');
  if (!signedHeaders.includes('content-type') || !signedHeaders.includes('host')) {
    return fail('AuthFailure.SignatureFailure', 'SignedHeaders must include content-type and host.');
  }

  const timestampHeader = request.headers['x-tc-timestamp'] ?? '';
  if (!/^\d{1,12}$/.test(timestampHeader)) {
    return fail('MissingParameter', 'The request is missing a valid X-TC-Timestamp header.');
  }
  const timestamp = Number(timestampHeader);
  if (Math.abs(nowSeconds - timestamp) > CLOCK_SKEW_SECONDS) {
    return fail(
      'AuthFailure.SignatureExpire',
      'Request signature expired: the timestamp is more than 5 minutes from the server time.',
    );
  }
  if (date !== utcDate(timestamp)) {
    return fail('AuthFailure.SignatureFailure', 'The credential date does not match X-TC-Timestamp.');
  }
  const host = stripPort((request.headers['host'] ?? '').toLowerCase());
  if (service !== host.split('.')[0]) {
    return fail(
      'AuthFailure.SignatureFailure',
      `The credential scope service "${service}" does not match the host.`,
    );
  }

  const secret = lookup(secretId as string);
  if (!secret)
    return fail('AuthFailure.SecretIdNotFound', 'The SecretId is not found, please ensure it exists.');
  // Temporary credentials need their token; permanent ones must not carry one (Tencent refuses both).
  const token = request.headers['x-tc-token'];
  if (secret.token !== undefined ? token !== secret.token : token !== undefined && token !== '') {
    return fail('AuthFailure.TokenFailure', 'The token is invalid or expired.');
  }

  const stringToSign = [
    ALGORITHM,
    timestampHeader,
    `${date}/${service}/tc3_request`,
    sha256(canonicalRequest(request, signedHeaders)),
  ].join('\n');
  const expected = createHmac('sha256', signingKey(secret.secretKey, date as string, service as string))
    .update(stringToSign)
    .digest();
  const given = Buffer.from(signature as string, 'hex');
  if (given.length !== expected.length || !timingSafeEqual(given, expected)) {
    return fail('AuthFailure.SignatureFailure', 'The provided credentials could not be validated.');
  }
  return { ok: true, secretId: secretId as string };
}
