import { lkeConfig, parseEndpoint } from '../../lib/config';
import { ConfigurationError } from '../../lib/errors';

describe('lkeConfig', () => {
  it('defaults to the international endpoint and ap-jakarta', () => {
    const config = lkeConfig({});
    expect(config.endpoint.href).toBe('https://lke.intl.tencentcloudapi.com/');
    expect(config).toMatchObject({ region: 'ap-jakarta', timeoutMs: 5000, rateLimitPerSecond: 20 });
    expect(config.retry).toEqual({ maxAttempts: 4, baseDelayMs: 200, maxDelayMs: 3000 });
  });

  it('takes a local endpoint URL and a region', () => {
    const config = lkeConfig({ LKE_ENDPOINT: 'http://127.0.0.1:9000', LKE_REGION: 'ap-guangzhou' });
    expect(config.endpoint.host).toBe('127.0.0.1:9000');
    expect(config.endpoint.protocol).toBe('http:');
    expect(config.region).toBe('ap-guangzhou');
  });

  it('accepts a bare host as https', () => {
    expect(parseEndpoint('X', 'lke.tencentcloudapi.com').href).toBe('https://lke.tencentcloudapi.com/');
  });

  it.each([
    ['LKE_ENDPOINT', 'ftp://host'],
    ['LKE_ENDPOINT', 'https://user:pass@host'],
    ['LKE_ENDPOINT', 'https://host/?a=1'],
    ['LKE_TIMEOUT_MS', 'soon'],
    ['LKE_TIMEOUT_MS', '5'],
    ['LKE_RATE_LIMIT_PER_SECOND', '0'],
    ['UPSTREAM_MAX_ATTEMPTS', '2.5'],
  ])('rejects %s=%p with a message naming the variable', (name, value) => {
    expect(() => lkeConfig({ [name]: value })).toThrow(ConfigurationError);
    expect(() => lkeConfig({ [name]: value })).toThrow(name);
  });
});
