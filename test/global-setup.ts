// Jest global setup: starts one private local stack for the whole test run and publishes its StackInfo via a 0600 file.
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { LocalStack, StackInfo, TEST_SERVICES, startLocalStack } from '../src/stack/local-stack';

declare global {
  var __ROTATOR_TEST_STACK__: { stack: LocalStack; file: string } | undefined;
}

export default async function globalSetup(): Promise<void> {
  const stack = await startLocalStack({
    services: TEST_SERVICES,
    log: (line) => process.stderr.write(`${line}\n`),
  });
  const { stop: _stop, ...info } = stack;
  const file = path.join(os.tmpdir(), `rotator-test-stack-${process.pid}.json`);
  // The file holds the pg and ferretdb passwords and the vault root token.
  fs.writeFileSync(file, JSON.stringify(info satisfies StackInfo, null, 2), { mode: 0o600 });
  fs.chmodSync(file, 0o600);
  process.env.ROTATOR_TEST_STACK = file;
  globalThis.__ROTATOR_TEST_STACK__ = { stack, file };
}
