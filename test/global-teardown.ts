// Jest global teardown: stops the local stack that global-setup.ts started and removes its StackInfo file.
import * as fs from 'node:fs';

export default async function globalTeardown(): Promise<void> {
  const started = globalThis.__ROTATOR_TEST_STACK__;
  if (!started) return;
  globalThis.__ROTATOR_TEST_STACK__ = undefined;
  try {
    await started.stack.stop();
  } finally {
    fs.rmSync(started.file, { force: true });
  }
}
