/**
 * Three jest projects. `unit`: every `*.unit.test.ts` (in test/ or beside the code it tests), which needs no server and
 * no bootstrap: `npm run test:unit`. `server`: every other `*.test.ts` in test/, against the real local stack that
 * test/global-setup.ts starts once per run (a project's globalSetup runs only when one of its tests is selected).
 * `serial`: the server tests that SIGKILL workers and wait on the clock (lease cycles, sweeps), whose freshly spawned
 * workers must start within their waits: one at a time, in a lane of their own beside the `unit` and `server` files
 * on the other workers (test/support/lanes-runner.js). Every file has its own task queues, secrets, roles and
 * namespaces, so files share the stack side by side. `npm test` runs all three.
 */
const SERIAL = [
  'fault-injection',
  'fault-injection-http',
  'random-kills',
  'worker-kill',
  'approval-faults',
  'lease-keeper-faults',
  'lifecycle-faults',
  'rollout-faults',
  'trigger-faults',
  'fault-injection-generated',
  'fault-injection-mysql',
  'fault-injection-sops',
  'fault-injection-pki',
  'fault-injection-coalesce',
  'fault-injection-mass',
];
const serialFiles = SERIAL.map((name) => `**/test/${name}.test.ts`);

const shared = {
  testEnvironment: 'node',
  // One runner for every project, so jest runs them as one group (it runs the groups of different runners one after
  // the other); it keeps the serial files to one lane.
  runner: '<rootDir>/test/support/lanes-runner.js',
  transform: {
    '^.+\\.ts$': ['ts-jest', { tsconfig: 'tsconfig.json' }],
    // ESM-only packages (see the transform's comment); everything else in node_modules is CommonJS and untouched.
    '/node_modules/.+\\.m?js$': '<rootDir>/test/support/esm-transform.js',
  },
  transformIgnorePatterns: ['/node_modules/(?!(@kubernetes/client-node|openid-client|oauth4webapi|jose)/)'],
};

module.exports = {
  verbose: true,
  // A global option: jest ignores it inside a project. A guard against a hang, not a speed check: a CI machine
  // busier than this one ran a 55 s kill harness in 134 s.
  testTimeout: 300000,
  projects: [
    {
      ...shared,
      displayName: 'unit',
      roots: ['<rootDir>/test', '<rootDir>/src', '<rootDir>/activities', '<rootDir>/workflows', '<rootDir>/workers'],
      testMatch: ['**/*.unit.test.ts'],
      // A unit test that reaches for the stack fails (test/support/stack.ts), even inside `npm test`.
      setupFiles: ['<rootDir>/test/support/no-stack.ts'],
    },
    {
      ...shared,
      displayName: 'server',
      roots: ['<rootDir>/test'],
      testMatch: ['**/*.test.ts'],
      testPathIgnorePatterns: ['/node_modules/', '\\.unit\\.test\\.ts$', ...SERIAL.map((name) => `/test/${name}\\.test\\.ts$`)],
      globalSetup: '<rootDir>/test/global-setup.ts',
      globalTeardown: '<rootDir>/test/global-teardown.ts',
    },
    {
      ...shared,
      displayName: 'serial',
      roots: ['<rootDir>/test'],
      testMatch: serialFiles,
      // The same module as the server project's: jest runs it once for both.
      globalSetup: '<rootDir>/test/global-setup.ts',
      globalTeardown: '<rootDir>/test/global-teardown.ts',
    },
  ],
};
