// Test helper: the StackInfo of the local stack that test/global-setup.ts started for this run.
import * as fs from 'node:fs';
import type { StackInfo } from '../../src/stack/local-stack';

let cached: StackInfo | undefined;

export function testStack(): StackInfo {
  if (cached) return cached;
  const file = process.env.ROTATOR_TEST_STACK;
  if (!file)
    throw new Error(
      'ROTATOR_TEST_STACK is unset: this test needs the local stack, which the `server` jest project starts ' +
        '(npm test, or npx jest <file>); a *.unit.test.ts file must not use it',
    );
  cached = JSON.parse(fs.readFileSync(file, 'utf8')) as StackInfo;
  return cached;
}
