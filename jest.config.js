const os = require('node:os');

/** @type {import('jest').Config} */
module.exports = {
  // One worker on a 2-core machine (jest's default: cores − 1). Two took npm test from 6.3 to 3.4 minutes, but the
  // simulation's CPU in one worker delayed the real-time quota test in the other past the quota's 75 ms margin
  // (1 RequestLimitExceeded from the strict stand-in, 1 run in 3): its timing needs the machine to itself.
  maxWorkers: Math.max(1, (os.availableParallelism?.() ?? os.cpus().length) - 1),
  testEnvironment: 'node',
  roots: ['<rootDir>/test'],
  testMatch: ['**/*.test.ts'],
  transform: {
    '^.+\\.(t|j)sx?$': [
      '@swc/jest',
      { jsc: { target: 'es2022', parser: { syntax: 'typescript' } }, module: { type: 'commonjs' } },
    ],
  },
  // middy and the OpenAPI validator ship ESM only; let swc turn it into CommonJS for jest.
  transformIgnorePatterns: ['/node_modules/(?!(@middy|@seriousme))'],
  testTimeout: 20000,
  setupFiles: ['<rootDir>/test/setup-env.js'],
  globalSetup: '<rootDir>/test/global-setup.js',
  globalTeardown: '<rootDir>/test/global-teardown.js',
};
