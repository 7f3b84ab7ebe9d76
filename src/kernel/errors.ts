// One error type for rotator: a code a caller can switch on, a path naming the field, a sentence a person can read.
// Workflow-safe: workflows import this module, so it holds no Node-only code (see test/sandbox.unit.test.ts).

export const ERROR_CODES = [
  'CONFIG_INVALID', // bad config, URI, event or CLI argument
  'NOT_FOUND', // a secret, version or role that should exist does not
  'CONFLICT', // a concurrent writer changed the store (check-and-set failed) or a stale pending exists
  'PERMISSION_DENIED', // the store or target refused our credentials
  'UNSUPPORTED', // the provider cannot do what the config asks
  'VERIFY_FAILED', // the new credential did not log in or the verify query failed
  'CONSUMER_FAILED', // a consumer refused or never answered the notification, after its own retries
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
  // A consumer has already retried within its time budget; retrying the activity would notify the others again.
  'CONSUMER_FAILED',
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
