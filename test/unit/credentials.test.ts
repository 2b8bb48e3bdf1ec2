import { ConfigurationError } from '../../lib/errors';
import { SsmSecretStore } from '../../lib/secrets';
import { librarySecretProvider } from '../../lib/smh/secrets';
import { tencentCredentialProvider } from '../../lib/tencent-credentials';
import { captureAws, fakeAwsConfig, type AwsCapture } from '../helpers/aws-capture';

const PARAMETER = '/tencent-task-tracker/prod/tencentcloud';
let ssm: AwsCapture;
let stored: Record<string, string>;

beforeEach(async () => {
  stored = { [PARAMETER]: JSON.stringify({ secretId: 'AKIDfromSsm', secretKey: 'key-from-ssm' }) };
  ssm = await captureAws(({ target, body }) => {
    if (target !== 'AmazonSSM.GetParameter')
      return { status: 400, body: { __type: 'UnknownOperationException' } };
    const value = stored[body.Name as string];
    if (value === undefined)
      return { status: 400, body: { __type: 'ParameterNotFound', message: 'not found' } };
    return { body: { Parameter: { Name: body.Name, Type: 'SecureString', Value: value, Version: 1 } } };
  });
});
afterEach(() => ssm.close());

const store = (maxAge = 300) => new SsmSecretStore(maxAge, fakeAwsConfig(ssm.endpoint));

describe('Tencent credentials', () => {
  it('prefers the environment and never calls SSM then', async () => {
    const provider = tencentCredentialProvider(
      {
        TENCENTCLOUD_SECRET_ID: 'AKIDenv',
        TENCENTCLOUD_SECRET_KEY: 'env-key',
        TENCENTCLOUD_SECRET_PARAMETER: PARAMETER,
      },
      () => store(),
    );
    await expect(provider()).resolves.toEqual({ secretId: 'AKIDenv', secretKey: 'env-key' });
    expect(ssm.requests).toHaveLength(0);
  });

  it('passes a session token along', async () => {
    const provider = tencentCredentialProvider(
      { TENCENTCLOUD_SECRET_ID: 'a', TENCENTCLOUD_SECRET_KEY: 'b', TENCENTCLOUD_SESSION_TOKEN: 't' },
      () => store(),
    );
    await expect(provider()).resolves.toEqual({ secretId: 'a', secretKey: 'b', token: 't' });
  });

  it('reads a SecureString with decryption once and caches it across calls', async () => {
    const secrets = store();
    const provider = tencentCredentialProvider({ TENCENTCLOUD_SECRET_PARAMETER: PARAMETER }, () => secrets);
    await expect(provider()).resolves.toEqual({ secretId: 'AKIDfromSsm', secretKey: 'key-from-ssm' });
    await provider();
    await provider();
    expect(ssm.requests).toHaveLength(1);
    expect(ssm.requests[0]?.body).toEqual({ Name: PARAMETER, WithDecryption: true });
  });

  it('picks up a rotated secret once the cache has expired', async () => {
    const secrets = store(0);
    const provider = tencentCredentialProvider({ TENCENTCLOUD_SECRET_PARAMETER: PARAMETER }, () => secrets);
    await provider();
    stored[PARAMETER] = JSON.stringify({ secretId: 'AKIDrotated', secretKey: 'rotated' });
    await expect(provider()).resolves.toMatchObject({ secretId: 'AKIDrotated' });
  });

  it('says which parameter to create when it is missing', async () => {
    const provider = tencentCredentialProvider({ TENCENTCLOUD_SECRET_PARAMETER: '/nope' }, () => store());
    const error = await provider().catch((e: unknown) => e);
    expect(error).toBeInstanceOf(ConfigurationError);
    expect((error as Error).message).toMatch(
      /SSM parameter \/nope .* does not exist: create it as a SecureString/,
    );
  });

  it('never echoes a malformed secret in its error', async () => {
    stored[PARAMETER] = 'secretId=AKIDleak;secretKey=leaky-key';
    const provider = tencentCredentialProvider({ TENCENTCLOUD_SECRET_PARAMETER: PARAMETER }, () => store());
    const error = (await provider().catch((e: unknown) => e)) as Error;
    expect(error.message).toBe(`Secret ${PARAMETER} is not valid JSON`);
    stored[PARAMETER] = JSON.stringify({ secretId: 'AKIDleak' });
    const error2 = (await tencentCredentialProvider({ TENCENTCLOUD_SECRET_PARAMETER: PARAMETER }, () =>
      store(),
    )().catch((e: unknown) => e)) as Error;
    expect(error2.message).not.toContain('AKIDleak');
  });

  it('fails with what to set when nothing is configured', async () => {
    await expect(tencentCredentialProvider({}, () => store())()).rejects.toThrow(/TENCENTCLOUD_SECRET_ID/);
  });
});

describe('SMH library secrets', () => {
  it('reads several libraries from SMH_LIBRARY_SECRETS without SSM', async () => {
    const provider = librarySecretProvider({ SMH_LIBRARY_SECRETS: '{"liba":"sa","libb":"sb"}' }, () =>
      store(),
    );
    await expect(provider('liba')).resolves.toEqual({ secret: 'sa' });
    await expect(provider('libb')).resolves.toEqual({ secret: 'sb' });
    expect(ssm.requests).toHaveLength(0);
  });

  it('reads <prefix>/<libraryId> from SSM with decryption, once per library', async () => {
    stored['/ttt/prod/smh/libraries/liba'] = 'secret-a';
    stored['/ttt/prod/smh/libraries/libb'] = 'secret-b';
    const secrets = store();
    const provider = librarySecretProvider(
      { SMH_SECRET_PARAMETER_PREFIX: '/ttt/prod/smh/libraries/' },
      () => secrets,
    );
    await expect(provider('liba')).resolves.toEqual({ secret: 'secret-a' });
    await expect(provider('libb')).resolves.toEqual({ secret: 'secret-b' });
    await provider('liba');
    expect(ssm.requests.map((r) => r.body)).toEqual([
      { Name: '/ttt/prod/smh/libraries/liba', WithDecryption: true },
      { Name: '/ttt/prod/smh/libraries/libb', WithDecryption: true },
    ]);
  });

  it('says which parameter to create for an unknown library (404 LibraryNotConfigured)', async () => {
    const provider = librarySecretProvider({ SMH_SECRET_PARAMETER_PREFIX: '/ttt/prod/smh/libraries' }, () =>
      store(),
    );
    const error = await provider('libz').catch((e: unknown) => e);
    expect(error).toMatchObject({ code: 'LibraryNotConfigured', httpStatus: 404 });
    expect((error as Error).message).toContain('create the SSM SecureString /ttt/prod/smh/libraries/libz');
  });

  it('rejects SMH_LIBRARY_SECRETS that is not a JSON object, without echoing it', () => {
    expect(() => librarySecretProvider({ SMH_LIBRARY_SECRETS: 'liba=hunter2' }, () => store())).toThrow(
      'SMH_LIBRARY_SECRETS is not valid JSON',
    );
    expect(() => librarySecretProvider({ SMH_LIBRARY_SECRETS: '["hunter2"]' }, () => store())).toThrow(
      /must be a JSON object/,
    );
  });
});

describe('SSM failures', () => {
  const arnText =
    'User: arn:aws:sts::123456789012:assumed-role/tencent-task-tracker-prod-LkeStatusRole/fn is not authorized to perform: ssm:GetParameter';
  it("keeps SSM's own text (account ids, role ARNs) out of the caller's message, and in the log's cause", async () => {
    ssm.respond = () => ({ status: 400, body: { __type: 'AccessDeniedException', message: arnText } });
    const error = (await store()
      .get(PARAMETER)
      .catch((e: unknown) => e)) as ConfigurationError & { cause?: Error };
    expect(error).toMatchObject({ code: 'SecretUnavailable', httpStatus: 500 });
    expect(error.message).toContain(`Could not read SSM parameter ${PARAMETER} (AccessDeniedException)`);
    expect(error.message).not.toContain('123456789012');
    expect(error.message).not.toContain('arn:aws');
    // The cause chain goes to the log (describeError), never to the caller.
    const chain = JSON.stringify([error.cause?.message, (error.cause as { cause?: Error })?.cause?.message]);
    expect(chain).toContain('arn:aws:sts::123456789012');
  });

  it('reads a library with its own host from an SSM JSON value', async () => {
    stored['/ttt/prod/smh/libraries/libh'] =
      '{"secret":"hosted-secret","baseUrl":"https://libh.api.tencentsmh.cn"}';
    const provider = librarySecretProvider({ SMH_SECRET_PARAMETER_PREFIX: '/ttt/prod/smh/libraries' }, () =>
      store(),
    );
    const access = await provider('libh');
    expect(access.secret).toBe('hosted-secret');
    expect(access.baseUrl?.href).toBe('https://libh.api.tencentsmh.cn/');
  });
});
