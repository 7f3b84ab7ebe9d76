// What a person sends to a running rotation (approve, reject, cancel), checked by the update validators before the
// workflow accepts it: a refused update leaves no trace in history, and the caller gets the sentence back.
import { ApplicationFailure } from '@temporalio/workflow';
import { UNPRINTABLE } from '../../src/kernel/printable';

const MAX_NAME = 128;
const MAX_REASON = 500;
// A name or a reason holds nothing UNPRINTABLE: these strings end up in audit lines and on operators' terminals.

/** A refusal the client shows as it is: `field` names what was wrong with the input, if it was the input. */
export function refuse(code: 'CONFIG_INVALID' | 'CONFLICT', message: string): never {
  throw ApplicationFailure.create({ type: code, message, nonRetryable: true });
}

/** Checks who decides and why; `reasonRequired` for a rejection. Returns them trimmed. */
export function checkDecision(input: unknown, reasonRequired: boolean): { by: string; reason?: string } {
  const { by, reason } = (typeof input === 'object' && input !== null ? input : {}) as Partial<Record<string, unknown>>;
  if (typeof by !== 'string' || by.trim() === '') refuse('CONFIG_INVALID', 'by: expected the name of who decides');
  if (by.length > MAX_NAME || UNPRINTABLE.test(by))
    refuse('CONFIG_INVALID', `by: expected a name of at most ${MAX_NAME} printable characters`);
  if (reason !== undefined && typeof reason !== 'string') refuse('CONFIG_INVALID', 'reason: expected text');
  if (reasonRequired && (reason === undefined || reason.trim() === ''))
    refuse('CONFIG_INVALID', 'reason: a rejection needs a reason');
  if (reason !== undefined && (reason.length > MAX_REASON || UNPRINTABLE.test(reason)))
    refuse('CONFIG_INVALID', `reason: expected at most ${MAX_REASON} printable characters on one line`);
  const trimmed = reason?.trim();
  return { by: by.trim(), ...(trimmed ? { reason: trimmed } : {}) };
}

/** `cancelled by alice: wrong secret`, for notes and messages. */
export function describeCancel(cancel: { by: string | null; reason?: string } | null | undefined): string {
  if (!cancel?.by) return 'the rotation was cancelled';
  return `cancelled by ${cancel.by}${cancel.reason ? `: ${cancel.reason}` : ''}`;
}
