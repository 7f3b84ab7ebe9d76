// setupFiles of the `unit` jest project: a `*.unit.test.ts` runs as if no stack were started, so one that reaches for
// the stack fails in `npm test` too, not only in `npm run test:unit` (jest gives each test file its own process.env).
delete process.env.ROTATOR_TEST_STACK;
