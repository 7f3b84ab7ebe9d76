// How long the readers of a secret may go on using a value they read, and what a rotation's grace period must
// outlast: a revoke that comes sooner leaves a reader holding a login that no longer works.
import { formatDuration } from '../kernel/duration';
import { RotatorError } from '../kernel/errors';

/** The longest a declared reader may keep a value: the field that says so, and how long (ms). */
export interface ReaderBound {
  field: string;
  ms: number;
}

/** What readers.ts reads of a secret (structural: schema.ts imports this module). */
interface ReaderFields {
  cache?: { enabled: boolean; ttl?: number };
  refresh?: { refresh_interval?: number };
  rotation?: {
    strategy?: string;
    grace_period: number;
    allow_short_grace: boolean;
    readers?: { max_staleness?: number };
  };
}

/** A duration as the config writes it; 0 as `0s`, not `0ms`. */
export function written(ms: number): string {
  return ms === 0 ? '0s' : formatDuration(ms);
}

/**
 * The longest of the secret's reader caches: its L5 `cache.ttl` (unless the cache is off), `refresh_interval`, and
 * `rotation.readers.max_staleness` for readers rotator cannot see (an OpenBao Agent template, an SDK's caching client).
 */
export function readerBound(secret: ReaderFields): ReaderBound | null {
  const bounds: ReaderBound[] = [];
  if (secret.cache && secret.cache.enabled !== false && secret.cache.ttl !== undefined)
    bounds.push({ field: 'cache.ttl', ms: secret.cache.ttl });
  if (secret.refresh?.refresh_interval !== undefined)
    bounds.push({ field: 'refresh_interval', ms: secret.refresh.refresh_interval });
  const staleness = secret.rotation?.readers?.max_staleness;
  if (staleness !== undefined) bounds.push({ field: 'rotation.readers.max_staleness', ms: staleness });
  return bounds.reduce<ReaderBound | null>((longest, b) => (longest && longest.ms >= b.ms ? longest : b), null);
}

/** A grace period shorter than the readers' caches, in words naming both fields and both durations; null when none. */
export function shortGrace(secret: ReaderFields): { bound: ReaderBound; allowed: boolean; message: string } | null {
  const rotation = secret.rotation;
  const bound = readerBound(secret);
  // single-user has no grace: the old password stops working when the new one is set (see graceWarnings).
  if (!rotation || !bound || rotation.strategy === 'single-user' || rotation.grace_period >= bound.ms) return null;
  const [grace, longest] = [written(rotation.grace_period), written(bound.ms)];
  const message =
    `rotation.grace_period ${grace} is shorter than ${bound.field} ${longest}: a reader may go on using the old ` +
    `credential for up to ${longest} after it is revoked; set grace_period to at least ${longest}` +
    (rotation.allow_short_grace
      ? ' (allowed here by rotation.allow_short_grace)'
      : ', or allow_short_grace: true to accept that');
  return { bound, allowed: rotation.allow_short_grace, message };
}

/** What `validate` and `plan` warn about a secret's readers: a grace period allowed short, and single-user's none. */
export function graceWarnings(secret: ReaderFields): string[] {
  const short = shortGrace(secret);
  if (short?.allowed) return [short.message];
  const bound = readerBound(secret);
  if (secret.rotation?.strategy === 'single-user' && bound)
    return [
      `single-user: the old password stops working when the new one is set, so a reader caching it (${bound.field} ` +
        `${written(bound.ms)}) fails until it reads again; alternating-users or dual-password keep it valid through grace_period`,
    ];
  return [];
}

/**
 * For `validate` and `plan`: refuses (CONFIG_INVALID, exit 2) the first secret whose grace_period is shorter than its
 * readers' caches without allow_short_grace, naming both fields. Other loads (the worker, listen, get, the consumer
 * library) only warn (shortGraceWarnings): a file that loaded yesterday keeps loading after an upgrade.
 */
export function refuseShortGrace(secrets: Record<string, ReaderFields>, only?: string): void {
  for (const [name, secret] of Object.entries(secrets)) {
    if (only !== undefined && name !== only) continue;
    const short = shortGrace(secret);
    if (short && !short.allowed) throw new RotatorError('CONFIG_INVALID', short.message, `secrets.${name}.rotation.grace_period`);
  }
}

/** The same findings as refuseShortGrace, as warnings for a load that is not validate or plan. */
export function shortGraceWarnings(secrets: Record<string, ReaderFields>): Array<{ field: string; message: string }> {
  return Object.entries(secrets).flatMap(([name, secret]) => {
    const short = shortGrace(secret);
    return short && !short.allowed ? [{ field: `secrets.${name}.rotation.grace_period`, message: short.message }] : [];
  });
}
