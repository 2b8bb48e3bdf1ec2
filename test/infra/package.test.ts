import { readdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import JSZip from 'jszip';
import { packageService, resourcesOfType, type Packaged } from '../helpers/serverless';

// Canary secrets in the environment of the packaging run: none may end up in any artifact.
const CANARY_ID = 'AKIDcanaryShouldNeverBeDeployed';
const CANARY_KEY = 'canary-secret-key-should-never-be-deployed';

let packaged: Packaged;
beforeAll(async () => {
  packaged = await packageService('prod', {
    TENCENTCLOUD_SECRET_ID: CANARY_ID,
    TENCENTCLOUD_SECRET_KEY: CANARY_KEY,
    SMH_LIBRARY_SECRETS: JSON.stringify({ canarylib: CANARY_KEY }),
  });
}, 180_000);

/** The text of one file in a zip, or of all its files joined. */
async function zipText(path: string, entry?: string): Promise<string> {
  const zip = await JSZip.loadAsync(await readFile(path));
  const names = entry ? [entry] : Object.keys(zip.files).filter((name) => !zip.files[name]!.dir);
  const texts = await Promise.all(names.map((name) => zip.file(name)!.async('string')));
  return texts.join('\n');
}

const fn = (logicalId: string) => {
  const resource = packaged.template.Resources[logicalId];
  if (!resource) throw new Error(`${logicalId} is not in the template`);
  return resource.Properties as Record<string, any>; // eslint-disable-line @typescript-eslint/no-explicit-any
};

describe('serverless package --stage prod (offline, no AWS credentials)', () => {
  it('declares lkeStatus on nodejs22.x / arm64 with its handler', () => {
    const props = fn('LkeStatusLambdaFunction');
    expect(props).toMatchObject({
      Runtime: 'nodejs22.x',
      Architectures: ['arm64'],
      Handler: 'functions/lke/status.handler',
      FunctionName: 'tencent-task-tracker-prod-lkeStatus',
    });
  });

  it('declares smhStatus the same way', () => {
    expect(fn('SmhStatusLambdaFunction')).toMatchObject({
      Runtime: 'nodejs22.x',
      Architectures: ['arm64'],
      Handler: 'functions/smh/status.handler',
    });
  });

  it('routes the on-demand GETs through one HTTP API', () => {
    const routes = resourcesOfType(packaged.template, 'AWS::ApiGatewayV2::Route').map(
      ([, r]) => r.Properties.RouteKey,
    );
    expect(routes).toEqual(
      expect.arrayContaining([
        'GET /lke/tasks/{taskId}',
        'GET /smh/libraries/{libraryId}/spaces/{spaceId}/tasks/{taskIds}',
        'GET /smh/libraries/{libraryId}/tasks/{taskIds}',
      ]),
    );
    expect(resourcesOfType(packaged.template, 'AWS::ApiGatewayV2::Api')).toHaveLength(1);
  });

  it('points functions at the SSM parameter, never at a secret value', () => {
    const env = fn('LkeStatusLambdaFunction').Environment.Variables;
    expect(env.TENCENTCLOUD_SECRET_PARAMETER).toBe('/tencent-task-tracker/prod/tencentcloud');
    expect(env.SMH_SECRET_PARAMETER_PREFIX).toBe('/tencent-task-tracker/prod/smh/libraries');
    expect(env).not.toHaveProperty('SMH_LIBRARY_SECRETS');
    expect(env).not.toHaveProperty('TENCENTCLOUD_SECRET_ID');
    expect(env).not.toHaveProperty('TENCENTCLOUD_SECRET_KEY');
  });

  it('lets functions read only this stage parameters', () => {
    const [, role] = resourcesOfType(packaged.template, 'AWS::IAM::Role')[0]!;
    const statements = JSON.stringify(role.Properties.Policies);
    expect(statements).toContain('ssm:GetParameter');
    expect(statements).toContain(':parameter/tencent-task-tracker/prod/*');
    expect(statements).not.toContain('"ssm:*"');
  });

  it('has no plaintext secret in the template, the state file or any bundle', async () => {
    const files = await readdir(packaged.dir);
    expect(files).toEqual(
      expect.arrayContaining(['lkeStatus.zip', 'cloudformation-template-update-stack.json']),
    );
    for (const file of files) {
      const content = file.endsWith('.zip')
        ? await zipText(join(packaged.dir, file))
        : await readFile(join(packaged.dir, file), 'utf8');
      expect(content.length).toBeGreaterThan(0);
      expect(content).not.toContain(CANARY_ID);
      expect(content).not.toContain(CANARY_KEY);
    }
  });

  it('bundles per function without the AWS SDK (the runtime has it) and without the Tencent SDK root', async () => {
    const bundle = await zipText(join(packaged.dir, 'lkeStatus.zip'), 'functions/lke/status.js');
    expect(bundle).toContain('require("@aws-sdk/client-ssm")');
    expect(bundle).toContain('lke.tencentcloudapi.com');
    expect(bundle).not.toContain('cvm.tencentcloudapi.com'); // the package root would pull every service in
    expect(bundle.length).toBeLessThan(1_000_000);
  });

  it('keeps the Tencent SDK out of the SMH bundle (it talks REST over fetch)', async () => {
    const bundle = await zipText(join(packaged.dir, 'smhStatus.zip'), 'functions/smh/status.js');
    expect(bundle).toContain('/api/v1/token');
    expect(bundle).not.toContain('tencentcloudapi.com');
    expect(bundle.length).toBeLessThan(300_000);
  });
});
