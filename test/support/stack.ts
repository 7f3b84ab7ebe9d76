// Test helper: the StackInfo of the local stack that test/global-setup.ts started for this run.
import * as fs from 'node:fs';
import type { StackInfo } from '../../src/stack/local-stack';

let cached: StackInfo | undefined;

export function testStack(): StackInfo {
  if (cached) return cached;
  const file = process.env.ROTATOR_TEST_STACK;
  if (!file) throw new Error('ROTATOR_TEST_STACK is unset: run tests via npm test');
  cached = JSON.parse(fs.readFileSync(file, 'utf8')) as StackInfo;
  return cached;
}
