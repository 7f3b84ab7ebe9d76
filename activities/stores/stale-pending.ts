// What a writable store does with a pending value another rotation left behind: one policy, one wording, every store.
import { RotatorError } from '../../src/kernel/errors';
import { logger } from '../../src/kernel/log';

/**
 * `fail` stops the rotation, because the leftover may belong to a rotation that is still running elsewhere (another
 * rotator deployment, another tool); `replace` is for an operator who knows it is debris of a rotation that died.
 */
export type StalePendingPolicy = 'fail' | 'replace';

export type StalePendingWarn = (message: string, fields: Record<string, string>) => void;

export interface StalePendingOptions {
  /** Default `fail`. */
  stalePending?: StalePendingPolicy;
  /** Where a replacement is reported; the default is the rotator logger. */
  warn?: StalePendingWarn;
}

export const STALE_PENDING_REPLACED = 'replaced a stale pending value';

/**
 * Applies the policy to one leftover: throws CONFLICT under `fail`, else runs `replace` and reports it. `what` names
 * the leftover (a version id, a rotation id, a file) so an operator can find it; it must never be a value.
 */
export async function handleStalePending(
  options: StalePendingOptions,
  at: { path: string; what: string; fields: Record<string, string>; howToRemove: string },
  replace: () => Promise<void>,
): Promise<void> {
  if ((options.stalePending ?? 'fail') === 'fail') {
    throw new RotatorError(
      'CONFLICT',
      `${at.path} already has ${at.what} left by an earlier rotation or another tool; ${at.howToRemove}, or set stale_pending: replace on the provider`,
    );
  }
  await replace();
  // `path`: the store path says where the leftover is; the secret's name is not known at this depth.
  (options.warn ?? ((message, fields) => logger.warn(fields, message)))(STALE_PENDING_REPLACED, { path: at.path, ...at.fields });
}

/**
 * Runs a create-only write of this rotation's pending value, which the store fails with CONFLICT when a pending
 * value exists. If it does, either an earlier attempt of ours got there (fine) or another rotation staged first;
 * if neither is there any more (the other one ended in between), the write is tried once more.
 */
export async function createPendingOnce(
  path: string,
  create: () => Promise<void>,
  ours: () => Promise<boolean>,
  otherPending: () => Promise<string | null>,
): Promise<void> {
  for (let attempt = 0; ; attempt++) {
    try {
      return await create();
    } catch (err) {
      if (!(err instanceof RotatorError && err.code === 'CONFLICT')) throw err;
      if (await ours()) return; // our own earlier attempt got there
      const winner = await otherPending();
      if (winner !== null)
        throw new RotatorError('CONFLICT', `${path} is being rotated by rotation ${winner}, which staged first`);
      if (attempt > 0) throw err;
    }
  }
}
