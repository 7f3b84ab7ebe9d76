// The value a rotation (or a lease keeper) publishes: the current one, with only the fields it owns replaced.
import type { JsonValue, SecretValue } from './types';

/**
 * `base` with each field of `owned` replaced where it stands (a field set to undefined is removed) and owned fields it
 * lacks added at the end. Every other field keeps its value, its type and its place: what an operator put in the
 * stored value (a pooler's host, `sslmode`, `dbInstanceIdentifier`) is not the rotation's to change.
 */
export function replaceOwnedFields(base: SecretValue, owned: Readonly<Record<string, JsonValue | undefined>>): SecretValue {
  const out: SecretValue = {};
  for (const [field, value] of Object.entries(base)) {
    if (!Object.hasOwn(owned, field)) out[field] = value;
    else if (owned[field] !== undefined) out[field] = owned[field];
  }
  for (const [field, value] of Object.entries(owned)) {
    if (!Object.hasOwn(base, field) && value !== undefined) out[field] = value;
  }
  return out;
}
