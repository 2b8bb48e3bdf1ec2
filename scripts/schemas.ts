/**
 * `npm run schemas`: writes `schemas/*.json` and `openapi.json` from `lib/contract.ts` and `lib/contract-outputs.ts` (see lib/contract-docs.ts).
 * Commit the result; `test/contract/generated.test.ts` fails while they are stale.
 */
import { readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import * as prettier from 'prettier';
import { jsonSchemas, openApiDocument } from '../lib/contract-docs';

const ROOT = join(__dirname, '..');

async function write(path: string, value: unknown) {
  const options = (await prettier.resolveConfig(path)) ?? {};
  writeFileSync(path, await prettier.format(JSON.stringify(value), { ...options, filepath: path }));
}

async function main() {
  const dir = join(ROOT, 'schemas');
  const schemas = jsonSchemas();
  for (const file of readdirSync(dir)) if (!(file in schemas)) rmSync(join(dir, file));
  for (const [file, schema] of Object.entries(schemas)) await write(join(dir, file), schema);
  const { version } = JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as { version: string };
  await write(join(ROOT, 'openapi.json'), openApiDocument(version));
  console.log(`wrote ${Object.keys(schemas).length} schemas in schemas/ and openapi.json`);
}

main().catch((error: unknown) => {
  console.error(error);
  process.exit(1);
});
