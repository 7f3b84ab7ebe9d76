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

/** One store's pending slot as a rotation about to stage finds it; the store supplies how to read and write it. */
export interface PendingSlot {
  path: string;
  rotationId: string;
  /** The rotation holding the slot now ('(unknown)' for a value that names none), or null when it is empty. */
  holder: string | null;
  /** Where the slot is, for a person (a version, a parameter, a file), and the same as log fields. */
  where: string;
  fields: Record<string, string>;
  howToRemove: string;
  /** Writes this rotation's value only if the slot is empty; the store fails it with CONFLICT otherwise. */
  create: () => Promise<void>;
  /** Writes this rotation's value over the holder's (stale_pending: replace). */
  overwrite: () => Promise<void>;
  /** Whether the slot now holds this rotation's value, or whose it holds. */
  ours: () => Promise<boolean>;
  other: () => Promise<string | null>;
}

/**
 * Takes the pending slot for a rotation, the same way in every store: a retry or re-run keeps what it staged; an
 * empty slot is written create-only, so of two rotations staging at once exactly one gets it; a slot another
 * rotation holds is left to the stale_pending policy, since writing over it would silently take it away.
 */
export async function claimPendingSlot(options: StalePendingOptions, slot: PendingSlot): Promise<void> {
  if (slot.holder === slot.rotationId) return;
  if (slot.holder === null) return createOnce(slot);
  await handleStalePending(
    options,
    {
      path: slot.path,
      what: `a pending credential of rotation ${slot.holder} (${slot.where})`,
      fields: { staleRotation: slot.holder, ...slot.fields },
      howToRemove: slot.howToRemove,
    },
    slot.overwrite,
  );
}

/** The create-only write; after a CONFLICT, ours means an earlier attempt got there; if nobody's is, try once more. */
async function createOnce(slot: PendingSlot): Promise<void> {
  for (let attempt = 0; ; attempt++) {
    try {
      return await slot.create();
    } catch (err) {
      if (!(err instanceof RotatorError && err.code === 'CONFLICT')) throw err;
      if (await slot.ours()) return;
      const winner = await slot.other();
      if (winner !== null)
        throw new RotatorError('CONFLICT', `${slot.path} is being rotated by rotation ${winner}, which staged first`);
      if (attempt > 0) throw err;
    }
  }
}
