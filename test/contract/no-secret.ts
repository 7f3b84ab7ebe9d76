// What the contract suites check of every error: that it is the RotatorError they expect, and that it leaks no secret.
import { RotatorError, type ErrorCode } from '../../src/kernel/errors';

/** Everything an error could carry into a log or workflow history. */
export function everythingIn(err: unknown): string {
  const e = err as Error;
  return [String(err), e?.message, e?.stack, JSON.stringify(err), JSON.stringify(Object.entries(err ?? {}))].join('\n');
}

export function expectNoSecretIn(err: unknown, secrets: Iterable<string>): void {
  const text = everythingIn(err);
  for (const s of secrets) expect(text).not.toContain(s);
}

/** Awaits a rejection, checks it is a RotatorError with `code`, and that it contains none of `secrets`. */
export async function rejectionWithout(
  secrets: Iterable<string>,
  promise: Promise<unknown>,
  code: ErrorCode,
): Promise<RotatorError> {
  let caught: unknown;
  try {
    await promise;
  } catch (err) {
    caught = err;
  }
  expect(caught).toBeInstanceOf(RotatorError);
  expect((caught as RotatorError).code).toBe(code);
  expectNoSecretIn(caught, secrets);
  return caught as RotatorError;
}
