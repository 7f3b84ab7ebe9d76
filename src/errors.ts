// One error type for rotator: a code a caller can switch on, a path naming the field, a sentence a person can read.
import { ApplicationFailure } from '@temporalio/common';

export const ERROR_CODES = [
  'CONFIG_INVALID', // bad config, URI, event or CLI argument
  'NOT_FOUND', // a secret, version or role that should exist does not
  'CONFLICT', // a concurrent writer changed the store (check-and-set failed) or a stale pending exists
  'PERMISSION_DENIED', // the store or target refused our credentials
  'UNSUPPORTED', // the provider cannot do what the config asks
  'VERIFY_FAILED', // the new credential did not log in or the verify query failed
  'TRANSIENT', // network, timeouts: worth retrying
] as const;
export type ErrorCode = (typeof ERROR_CODES)[number];

/** Codes that stop a rotation at once: retrying cannot fix them. Retry policies list them too. */
export const NON_RETRYABLE_CODES: ReadonlyArray<ErrorCode> = [
  'CONFIG_INVALID',
  'NOT_FOUND',
  'CONFLICT',
  'PERMISSION_DENIED',
  'UNSUPPORTED',
];
const NON_RETRYABLE: ReadonlySet<ErrorCode> = new Set(NON_RETRYABLE_CODES);

export class RotatorError extends Error {
  override readonly name = 'RotatorError';
  constructor(
    readonly code: ErrorCode,
    message: string,
    readonly path?: string,
  ) {
    super(path ? `${path}: ${message}` : message);
  }
}

export function assertNever(value: never): never {
  throw new Error(`unhandled case: ${JSON.stringify(value)}`);
}

export function isRetryable(code: ErrorCode): boolean {
  return !NON_RETRYABLE.has(code);
}

/**
 * Replace every occurrence of the given secret values in a message. Drivers sometimes echo what they were sent;
 * whatever reaches a log, an error or history goes through this first.
 */
export function redact(text: string, secrets: ReadonlyArray<string | undefined>): string {
  let out = text;
  for (const s of secrets) {
    if (s && s.length >= 4) {
      out = out.split(s).join('[REDACTED]');
      out = out.split(Buffer.from(s).toString('base64')).join('[REDACTED]');
    }
  }
  return out;
}

/**
 * Turn anything thrown by a driver into an ApplicationFailure whose type is our code, with secrets scrubbed and
 * no driver object attached (its fields may hold the statement we sent).
 */
export function toFailure(
  err: unknown,
  secrets: ReadonlyArray<string | undefined> = [],
  fallback: ErrorCode = 'TRANSIENT',
): ApplicationFailure {
  if (err instanceof ApplicationFailure) return err;
  const code = err instanceof RotatorError ? err.code : fallback;
  const raw = err instanceof Error ? err.message : String(err);
  const message = redact(raw, secrets);
  return ApplicationFailure.create({ message, type: code, nonRetryable: !isRetryable(code) });
}
