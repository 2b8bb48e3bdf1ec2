import { SignatureV4 } from '@smithy/signature-v4';
import { createHash, createHmac } from 'node:crypto';
import { REQUEST } from './request';

/** node:crypto behind the hash interface the SDK's signer takes (the SDK gives it its own). */
type Data = string | ArrayBuffer | ArrayBufferView;
const bytes = (data: Data) =>
  typeof data === 'string'
    ? Buffer.from(data)
    : ArrayBuffer.isView(data)
      ? Buffer.from(data.buffer, data.byteOffset, data.byteLength)
      : Buffer.from(data);
class Sha256 {
  private readonly hash;
  constructor(secret?: Data) {
    this.hash = secret ? createHmac('sha256', bytes(secret)) : createHash('sha256');
  }
  update(data: Data) {
    this.hash.update(bytes(data));
  }
  async digest() {
    return new Uint8Array(this.hash.digest());
  }
}

const { request, credentials, scope } = REQUEST;
void new SignatureV4({ ...scope, credentials, sha256: Sha256 }).sign({
  method: request.method,
  protocol: 'https:',
  hostname: request.url.hostname,
  path: '/',
  headers: { host: request.url.hostname, ...request.headers },
  body: request.body,
});
