// Every test's temporary files (sinks, packaged artifacts, serverless-esbuild's staging folders) go under one
// folder of this run, removed when the run ends (global-teardown.js): `npm test` leaves nothing in the temp
// folder. Child processes (serverless, npm start) inherit TMPDIR.
const { mkdtempSync } = require('node:fs');
const { tmpdir } = require('node:os');
const { join } = require('node:path');

module.exports = async () => {
  const dir = mkdtempSync(join(tmpdir(), 'ttt-jest-'));
  process.env.TTT_JEST_TMPDIR = dir;
  process.env.TMPDIR = dir;
};
