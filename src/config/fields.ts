// Field types every part of the config shares (durations, names, references, URLs), for the core schema and plugins.
import { z } from 'zod';
import { DURATION, parseDuration } from '../kernel/duration';

export { parseDuration } from '../kernel/duration';

const DURATION_HINT = 'expected a duration like 500ms, 30s, 5m, 1h';
/** Ten years: longer is a typo, and would not fit Temporal's timers. */
const MAX_DURATION_MS = 3650 * 86_400_000;
export const duration = z
  .string({ error: DURATION_HINT })
  .regex(DURATION, { message: DURATION_HINT })
  .transform(parseDuration)
  .pipe(z.number().max(MAX_DURATION_MS, { message: 'expected at most 3650d' }));

/**
 * A duration kept as written (`30s`), not parsed to milliseconds: for blocks that travel in a rotation plan and are
 * checked there again by the same schema. `atLeast` is given as written too, for the message.
 */
export function writtenDuration(atLeast?: string) {
  const min = atLeast ? parseDuration(atLeast) : 0;
  return z
    .string({ error: DURATION_HINT })
    .regex(DURATION, { message: DURATION_HINT })
    .refine((d) => !DURATION.test(d) || parseDuration(d) >= min, { message: `expected at least ${atLeast ?? '0s'}` });
}

/** Names end up in workflow ids and store paths, so keep them plain. */
export const name = z.string().regex(/^[A-Za-z0-9][A-Za-z0-9_.-]{0,62}$/, {
  message: 'expected letters, digits, _ . - (at most 63, starting with a letter or digit)',
});

export const SECRET_REF = /^secret:\/\/([A-Za-z0-9][A-Za-z0-9_.-]{0,62})(?:\/([A-Za-z0-9_.-]+))?$/;
export const secretRef = z
  .string()
  .regex(SECRET_REF, { message: 'expected a reference like secret://name or secret://name/key' });

export const httpUrl = z
  .string()
  .url({ message: 'expected an http(s) URL' })
  .refine((u) => /^https?:\/\//.test(u), {
    message: 'expected an http(s) URL',
  });

/**
 * A pending value left by another rotation (one that died, or another deployment's): stop the rotation (fail), or
 * drop it with a log line and go on (replace). Every writable store takes it, so it means the same everywhere.
 */
export const stalePending = z.enum(['fail', 'replace']).default('fail');

/** `issued` is for targets that make their own credentials (a plugin with `issues: true`), and only for them. */
export const STRATEGIES = ['alternating-users', 'single-user', 'dual-password', 'issued'] as const;
export type Strategy = (typeof STRATEGIES)[number];

/** Where a target is and which secret holds the admin credential that manages its logins: every target has these. */
export const targetConnection = {
  connection: secretRef,
  host: z.string().optional(),
  port: z.number().int().min(1).max(65535).optional(),
};
