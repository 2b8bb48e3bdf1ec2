import Sign from 'tencentcloud-sdk-nodejs/tencentcloud/common/sign';
import { utcDate, verifyTc3, type Tc3Request, type Tc3Secret } from '../../sandbox/tc3';

const SECRET_ID = 'AKIDexample';
const SECRET_KEY = 'example-secret-key';
const NOW = 1_790_000_000; // a fixed "server time", in seconds
const secrets: Record<string, Tc3Secret> = { [SECRET_ID]: { secretKey: SECRET_KEY } };
const lookup = (id: string) => secrets[id];

/** Builds a request exactly as the SDK would send it, signed by the SDK's own signer. */
function sdkSigned(
  options: { body?: string; timestamp?: number; secretKey?: string; secretId?: string; host?: string } = {},
): Tc3Request {
  const host = options.host ?? 'lke.tencentcloudapi.com';
  const body =
    options.body ?? '{"TaskId":"8","TaskType":"ModifyAttributeLabel","BotBizId":"1767024172536168448"}';
  const timestamp = options.timestamp ?? NOW;
  const headers = { 'Content-Type': 'application/json' };
  const authorization = Sign.sign3({
    method: 'POST',
    url: `https://${host}/`,
    payload: Buffer.from(body),
    timestamp,
    service: host.split('.')[0] as string,
    secretId: options.secretId ?? SECRET_ID,
    secretKey: options.secretKey ?? SECRET_KEY,
    multipart: false,
    boundary: '',
    headers,
  });
  return {
    method: 'POST',
    path: '/',
    query: '',
    headers: {
      authorization,
      'content-type': 'application/json',
      host,
      'x-tc-timestamp': String(timestamp),
      'x-tc-action': 'GetTaskStatus',
    },
    body: Buffer.from(body),
  };
}

describe('TC3-HMAC-SHA256 verification against the SDK signer', () => {
  it('accepts a request signed by the SDK', () => {
    expect(verifyTc3(sdkSigned(), lookup, NOW)).toEqual({ ok: true, secretId: SECRET_ID });
  });

  it('accepts a loopback host with a port (the SDK signs the hostname, the service is its first label)', () => {
    const request = sdkSigned({ host: '127.0.0.1' });
    request.headers.host = '127.0.0.1:9000';
    expect(verifyTc3(request, lookup, NOW)).toEqual({ ok: true, secretId: SECRET_ID });
  });

  it('rejects a tampered body', () => {
    const request = sdkSigned();
    request.body = Buffer.from(request.body.toString().replace('"8"', '"9"'));
    expect(verifyTc3(request, lookup, NOW)).toMatchObject({
      ok: false,
      code: 'AuthFailure.SignatureFailure',
    });
  });

  it('rejects a tampered timestamp', () => {
    const request = sdkSigned();
    request.headers['x-tc-timestamp'] = String(NOW + 1);
    expect(verifyTc3(request, lookup, NOW)).toMatchObject({
      ok: false,
      code: 'AuthFailure.SignatureFailure',
    });
  });

  it('rejects a signature made with another key', () => {
    expect(verifyTc3(sdkSigned({ secretKey: 'not-the-key' }), lookup, NOW)).toMatchObject({
      ok: false,
      code: 'AuthFailure.SignatureFailure',
    });
  });

  it('rejects a request signed for another host (service scope)', () => {
    const request = sdkSigned({ host: 'cvm.tencentcloudapi.com' });
    request.headers.host = 'lke.tencentcloudapi.com';
    expect(verifyTc3(request, lookup, NOW)).toMatchObject({
      ok: false,
      code: 'AuthFailure.SignatureFailure',
    });
  });

  it('rejects a tampered signed header (content-type)', () => {
    const request = sdkSigned();
    request.headers['content-type'] = 'application/json; charset=utf-8';
    expect(verifyTc3(request, lookup, NOW)).toMatchObject({
      ok: false,
      code: 'AuthFailure.SignatureFailure',
    });
  });

  it('enforces the 5-minute clock window both ways', () => {
    expect(verifyTc3(sdkSigned({ timestamp: NOW - 301 }), lookup, NOW)).toMatchObject({
      ok: false,
      code: 'AuthFailure.SignatureExpire',
    });
    expect(verifyTc3(sdkSigned({ timestamp: NOW + 301 }), lookup, NOW)).toMatchObject({
      ok: false,
      code: 'AuthFailure.SignatureExpire',
    });
    expect(verifyTc3(sdkSigned({ timestamp: NOW - 299 }), lookup, NOW)).toMatchObject({ ok: true });
  });

  it('rejects an unknown SecretId', () => {
    expect(verifyTc3(sdkSigned({ secretId: 'AKIDunknown' }), lookup, NOW)).toMatchObject({
      ok: false,
      code: 'AuthFailure.SecretIdNotFound',
    });
  });

  it('requires the token of temporary credentials', () => {
    const withToken = (id: string) =>
      id === SECRET_ID ? { secretKey: SECRET_KEY, token: 'tok' } : undefined;
    const request = sdkSigned();
    expect(verifyTc3(request, withToken, NOW)).toMatchObject({ ok: false, code: 'AuthFailure.TokenFailure' });
    request.headers['x-tc-token'] = 'tok';
    expect(verifyTc3(request, withToken, NOW)).toMatchObject({ ok: true });
  });

  it('rejects a missing or malformed Authorization header', () => {
    const request = sdkSigned();
    delete request.headers.authorization;
    expect(verifyTc3(request, lookup, NOW)).toMatchObject({
      ok: false,
      code: 'AuthFailure.SignatureFailure',
    });
    request.headers.authorization = 'Basic abc';
    expect(verifyTc3(request, lookup, NOW)).toMatchObject({
      ok: false,
      code: 'AuthFailure.InvalidAuthorization',
    });
  });

  it('uses the UTC date of the timestamp in the credential scope', () => {
    expect(utcDate(NOW)).toBe(new Date(NOW * 1000).toISOString().slice(0, 10));
    const request = sdkSigned();
    request.headers.authorization = (request.headers.authorization as string).replace(
      utcDate(NOW),
      utcDate(NOW - 86_400),
    );
    expect(verifyTc3(request, lookup, NOW)).toMatchObject({
      ok: false,
      code: 'AuthFailure.SignatureFailure',
    });
  });
});
