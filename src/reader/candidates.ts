// What a store holds for a secret besides its current value, read through the public SecretStore calls: the value a
// rotation has staged (pending) and the version that rotation replaces or replaced (previous).
//
// The store interface has no "read previous" call, so previous is found the way a rotation finds it: a pending
// value records the version it was staged against. Before its promote that is the current version (nothing older
// to offer); after it, until the rotation ends, it is the version the promote replaced. Outside a rotation the
// client offers the value it itself last saw as current before the present one (client.ts).
import type { SecretStore, SecretValue } from '../../activities/types';
import { fieldsOf, type ResolvedValue } from '../client/resolve';
import { RotatorError } from '../kernel/errors';
import type { SecretUri } from '../kernel/uri';

/** Never a rotation id: asking who else holds a pending value with it answers for every rotation. */
const READER_ID = 'secret-client:reader';

export interface StoreExtras {
  pending: { value: SecretValue; baseVersion: string | null } | null;
  /** The version the pending value was staged against, when it is not the current one. */
  previous: { version: string; value: SecretValue } | null;
}

/**
 * A reader whose policy does not reach the pending path (PERMISSION_DENIED), or a version that is gone (NOT_FOUND),
 * simply has no such candidate; an outage still throws.
 */
async function optional<T>(read: () => Promise<T | null>): Promise<T | null> {
  try {
    return await read();
  } catch (err) {
    if (err instanceof RotatorError && (err.code === 'PERMISSION_DENIED' || err.code === 'NOT_FOUND')) return null;
    throw err;
  }
}

export async function readStoreExtras(store: SecretStore, path: string, currentVersion: string | null): Promise<StoreExtras> {
  const holder = await optional(() => store.otherPending(path, READER_ID));
  const pending = holder ? await optional(() => store.readPending(path, holder)) : null;
  const base = pending?.baseVersion ?? null;
  const previousValue =
    base !== null && base !== currentVersion && store.capabilities.versions
      ? await optional(() => store.readVersion(path, base))
      : null;
  return { pending, previous: previousValue && base !== null ? { version: base, value: previousValue } : null };
}

/**
 * A stored value as the URI reads it, like the resolver: its field for secret://name/key, its fields within `keys`
 * for secret://name; null when it lacks the field.
 */
export function project(value: SecretValue, ref: SecretUri, keys: string[] | undefined): ResolvedValue | null {
  const out = fieldsOf(value, keys);
  if (ref.key === undefined) return Object.keys(out).length > 0 ? out : null;
  const field = out[ref.key];
  return field === undefined ? null : String(field);
}
