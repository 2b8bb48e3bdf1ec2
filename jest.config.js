const os = require('node:os');

/** @type {import('jest').Config} */
module.exports = {
  // jest's default is one worker less than the cores: one on a 2-core machine, where most suites wait on sockets
  // and timers (npm start, the sandbox, dynalite), not on the CPU. Two there took npm test from 6.3 to 3.4 minutes.
  maxWorkers: Math.max(2, (os.availableParallelism?.() ?? os.cpus().length) - 1),
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
