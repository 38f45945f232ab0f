// Mutation testing of the core (`npm run mutate`; not part of `npm test`: the whole run takes most of
// an hour on two cores). `MUTATE_TARGET=cipher|provider|errors|signal npm run mutate` mutates one file
// with only the tests that exercise it, for a run of minutes while iterating; MUTATE_QUICK=1 leaves out
// the whole-stack tests (`slow`) of a target too. Results: README.md,
// "Mutation testing".

// Mutants shown equivalent are disabled where they arise, each with its reason, by a
// `// Stryker disable next-line <mutator>: <reason>` comment:
// - src/tokens/token.cipher.ts, `kid === undefined ? undefined : ...`: Map.get(undefined) is undefined too.
// Survivors not shown equivalent yet (2026-12-01) are listed in README.md, "Mutation testing".

/** Each target: the files mutated and the tests that pin them down. */
const targets = {
  cipher: {
    mutate: ['src/tokens/token.cipher.ts'],
    tests: ['test/unit/gateway/token-cipher.test.ts'],
  },
  provider: {
    mutate: ['src/tokens/token.provider.ts', 'src/tokens/refresh.plan.ts'],
    tests: ['test/unit/gateway/refresh-plan.test.ts', 'test/integration/gateway/token-provider.test.ts'],
    slow: ['test/integration/gateway/refresh.test.ts'],
  },
  // What the hardening of the refresh added around the provider: the record of refreshes in Redis, the locks.
  vault: {
    mutate: ['src/tokens/token.vault.ts', 'src/tokens/redis-lock.ts'],
    tests: ['test/integration/gateway/token-vault.test.ts', 'test/integration/gateway/token-provider.test.ts'],
    slow: ['test/integration/gateway/refresh.test.ts'],
  },
  errors: {
    mutate: ['src/errors.ts'],
    tests: ['test/unit/gateway/errors.test.ts'],
    slow: ['test/integration/gateway/refresh.test.ts', 'test/integration/gateway/vehicle-data.test.ts'],
  },
  signal: {
    mutate: ['src/vehicles/signal.service.ts'],
    // With the subscriptions' cache-only loader and the readings webhooks record (failures among them).
    tests: ['test/integration/gateway/signal-service.test.ts', 'test/integration/gateway/subscriptions.test.ts', 'test/integration/gateway/webhooks.test.ts'],
    slow: ['test/integration/gateway/vehicle-data.test.ts', 'test/integration/gateway/limits.test.ts'],
  },
};

const chosen = process.env.MUTATE_TARGET ? [process.env.MUTATE_TARGET] : Object.keys(targets);
for (const name of chosen) if (!targets[name]) throw new Error(`MUTATE_TARGET: one of ${Object.keys(targets).join(', ')}`);
const pick = (field) => [...new Set(chosen.flatMap((name) => targets[name][field] ?? []))];
const tests = [...pick('tests'), ...(process.env.MUTATE_QUICK ? [] : pick('slow'))];

/** @type {import('@stryker-mutator/api/core').PartialStrykerOptions} */
export default {
  packageManager: 'npm',
  testRunner: 'jest',
  checkers: ['typescript'],
  tsconfigFile: 'tsconfig.json',
  typescriptChecker: { prioritizePerformanceOverAccuracy: true },
  coverageAnalysis: 'perTest',
  // Two cores shared with other work: one test process at a time.
  concurrency: 1,
  // Integration tests start servers and wait for timers: a mutant that hangs one is a timeout (killed).
  timeoutMS: 10_000,
  timeoutFactor: 2,
  mutate: pick('mutate'),
  ignorePatterns: ['dist', '.test-build', '.bench-build', 'reports', 'coverage'],
  jest: {
    projectType: 'custom',
    enableFindRelatedTests: false,
    config: {
      testEnvironment: 'node',
      // Types are the checker's job; ts-jest only strips them (much faster per run).
      transform: { '^.+\\.ts$': ['ts-jest', { tsconfig: 'tsconfig.json', diagnostics: false }] },
      testMatch: tests.map((t) => `<rootDir>/${t}`),
      // A private redis-server, started for every run: only when a test needs one.
      ...(tests.some((t) => t.startsWith('test/integration/')) && {
        globalSetup: '<rootDir>/test/support/global-setup.ts',
        globalTeardown: '<rootDir>/test/support/global-teardown.ts',
      }),
      testTimeout: 30_000,
    },
  },
  reporters: ['clear-text', 'progress', 'html', 'json'],
  htmlReporter: { fileName: 'reports/mutation/mutation.html' },
  jsonReporter: { fileName: 'reports/mutation/mutation.json' },
  thresholds: { high: 90, low: 80, break: null },
};
