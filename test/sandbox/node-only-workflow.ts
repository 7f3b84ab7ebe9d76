// A deliberately wrong workflow module for test/sandbox.unit.test.ts: it imports kernel code that needs Node (Buffer).
import { redact } from '../../src/kernel/redact';

export async function leaky(text: string): Promise<string> {
  return redact(text, ['hunter2']);
}
