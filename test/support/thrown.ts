// Awaits a promise that must reject with a RotatorError, and returns that error for the test to look at.
import { RotatorError } from '../../src/kernel/errors';

export async function thrown(p: Promise<unknown>): Promise<RotatorError> {
  try {
    await p;
  } catch (err) {
    if (err instanceof RotatorError) return err;
    throw err;
  }
  throw new Error('expected a RotatorError, got success');
}
