// Field types every part of the config shares (durations, names, references, URLs), for the core schema and plugins.
import { z } from 'zod';

const DURATION = /^(\d+)(ms|s|m|h|d)$/;
const UNIT_MS = { ms: 1, s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000 } as const;

/** '30s' → 30000. Durations are written as text in YAML so a reader never guesses the unit. */
export function parseDuration(text: string): number {
  const m = DURATION.exec(text);
  if (!m) throw new Error(`invalid duration ${JSON.stringify(text)}`);
  return Number(m[1]) * UNIT_MS[m[2] as keyof typeof UNIT_MS];
}

const DURATION_HINT = 'expected a duration like 500ms, 30s, 5m, 1h';
export const duration = z.string({ error: DURATION_HINT }).regex(DURATION, { message: DURATION_HINT }).transform(parseDuration);

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

export const STRATEGIES = ['alternating-users', 'single-user', 'dual-password'] as const;
export type Strategy = (typeof STRATEGIES)[number];

/** Where a target is and which secret holds the admin credential that manages its logins: every target has these. */
export const targetConnection = {
  connection: secretRef,
  host: z.string().optional(),
  port: z.number().int().min(1).max(65535).optional(),
};
