// Scrubbing secret values out of driver messages, and the failure every activity error leaves as. Node-only (Buffer).
import { ApplicationFailure } from '@temporalio/common';
import { isRetryable, RotatorError, type ErrorCode } from './errors';

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
