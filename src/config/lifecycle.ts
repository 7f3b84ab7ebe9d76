// The lifecycle blocks of the config: when a secret rotates on its own, what the sweep looks at, how leases are kept.
import { z } from 'zod';
import { cronProblem } from './cron';
import { formatDuration } from '../kernel/duration';
import { duration } from './fields';
import { TARGETS, type TargetType } from '../../activities/targets';

/** The targets whose plugin verifies a lease keeper's credential: what `lease.verify.type` may name. */
type LeaseVerifyType = { [K in TargetType]: 'verifyLease' extends keyof (typeof TARGETS)[K] ? K : never }[TargetType];
const LEASE_VERIFY_TYPES = (Object.keys(TARGETS) as TargetType[]).filter(
  (t): t is LeaseVerifyType => 'verifyLease' in TARGETS[t],
) as [LeaseVerifyType, ...LeaseVerifyType[]];

const HOUR_MINUTE = /^([01]\d|2[0-3]):([0-5]\d)$/;
const hourMinute = z.string().regex(HOUR_MINUTE, { message: 'expected a time of day like 02:00 (24-hour HH:MM)' });

/** A named IANA time zone, checked against the zone data Node ships with. */
const timeZone = z.string().refine(
  (tz) => {
    try {
      new Intl.DateTimeFormat('en-US', { timeZone: tz });
      return true;
    } catch {
      return false;
    }
  },
  { message: 'expected an IANA time zone like UTC or Europe/Berlin' },
);

/** Five fields (minute hour day-of-month month day-of-week), or one of the @-names Temporal understands. */
const CRON = /^(@(yearly|annually|monthly|weekly|daily|midnight|hourly)|(\S+\s+){4}\S+)$/;

export const WindowSchema = z
  .object({
    /** Rotations start only between these times of day (end exclusive; an end before start spans midnight). */
    start: hourMinute,
    end: hourMinute,
    time_zone: timeZone.default('UTC'),
  })
  .strict()
  .refine((w) => w.start !== w.end, { message: 'start and end are the same time: the window would be empty', path: ['end'] });

export const ScheduleSchema = z
  .object({
    /** An interval (`30d`), counted from the Unix epoch as Temporal Schedules do … */
    every: duration.pipe(z.number().min(60_000, { message: 'expected at least 1m' })).optional(),
    /** … or a cron expression, in the window's time zone when there is one (UTC otherwise). */
    cron: z.string().trim().regex(CRON, { message: 'expected a cron expression of five fields, like "0 3 * * 1"' }).optional(),
    /** Each run starts up to this much later, at random, so many secrets on one schedule do not rotate at once. */
    jitter: duration.default(0),
    window: WindowSchema.optional(),
    paused: z.boolean().default(false),
    /** Tries per scheduled run, each with fresh material; after the last, the secret needs a human. */
    attempts: z.number().int().min(1).max(10).default(3),
    retry_delay: duration.default(600_000),
  })
  .strict()
  .superRefine((s, ctx) => {
    if (!!s.every === !!s.cron) ctx.addIssue({ code: 'custom', path: ['every'], message: 'set exactly one of every: or cron:' });
    // Out of range or never advancing, Temporal would refuse it only when `schedule sync` creates the Schedule.
    const cron = s.cron === undefined ? null : cronProblem(s.cron);
    if (cron !== null && cron !== 'unknown')
      ctx.addIssue({ code: 'custom', path: ['cron'], message: `${cron} (fields: minute hour day-of-month month day-of-week)` });
    if (s.every !== undefined && s.jitter >= s.every)
      ctx.addIssue({ code: 'custom', path: ['jitter'], message: 'must be shorter than the interval (every:)' });
  });

/** At most `starts` begin in any `per`. */
function startRate(defaults: { starts: number; per: number }) {
  return z
    .object({
      starts: z.number().int().min(1).max(10_000).default(defaults.starts),
      per: duration.pipe(z.number().min(1000, { message: 'expected at least 1s' })).default(defaults.per),
    })
    .strict()
    .default(defaults);
}

/** The scheduled sweep over every secret: how often, how far ahead "due" looks, and how fast it may start rotations. */
export const SweepSchema = z
  .object({
    every: duration.pipe(z.number().min(60_000, { message: 'expected at least 1m' })).default(3_600_000),
    /** A secret whose max_age or expiry falls within this is `due`; past it, `overdue`. Both are rotated. */
    due_within: duration.default(86_400_000),
    /** Rotations the sweep has running at once. */
    max_concurrent: z.number().int().min(1).max(1000).default(5),
    /** At most `starts` rotations begin in any `per` (30 a minute by default). */
    rate: startRate({ starts: 30, per: 60_000 }),
    paused: z.boolean().default(false),
  })
  .strict();

/**
 * How lease keepers start (`rotator schedule sync`, the sweep). Started together, 1,000 keepers issue 1,000 credentials
 * at once: their first tasks fill the task queue, and the next run of a keeper that has issued (a run per step) waits
 * behind them, past its renewal. Each keeper's first task is scheduled `per / starts` after the previous one's instead.
 */
export const KeepersSchema = z
  .object({
    /**
     * At most `starts` keepers begin in any `per`, per starter (a `schedule sync` run, a worker's sweep): 5 a second by
     * default, so 10,000 leases are issued in 33 minutes.
     */
    rate: startRate({ starts: 5, per: 1000 }),
  })
  .strict();

/**
 * `type: dynamic` secrets (the L5 spec's `lease:` block, plus rotator's own fields): how the keeper renews and
 * replaces the credential the engine leases.
 */
export const LeaseSchema = z
  .object({
    renewal_enabled: z.boolean().default(true),
    /**
     * The shortest renewal interval wanted: a lease granted for less than this is still renewed at `renew_at` of its
     * duration (never later, or it may expire under its consumers), so `validate` warns when increment_seconds is not
     * above it. Also the least wait before another issue after a failed one.
     */
    min_renewal_seconds: z.number().int().min(1).default(60),
    /** The extension asked for at each renewal (the engine caps it at the role's max_ttl). */
    increment_seconds: z.number().int().min(1).default(3600),
    /** Renew when this fraction of the lease's duration has passed. */
    renew_at: z
      .number()
      .gt(0)
      .lt(1)
      .default(2 / 3),
    /** How long the old credential stays valid beside the new one after a re-issue, before its lease is revoked. */
    grace_period: duration.default(0),
    /** Revoke tries before the old lease is reported irrevocable (Vault parks such leases after six). */
    revoke_attempts: z.number().int().min(1).max(20).default(5),
    /** Where a new credential must log in before it is published as current (and what it runs there). */
    verify: z
      .object({
        /** A target whose plugin can verify a lease (it has `verifyLease`). */
        type: z.enum(LEASE_VERIFY_TYPES),
        host: z.string().min(1).default('127.0.0.1'),
        port: z.number().int().min(1).max(65535),
        database: z.string().min(1).optional(),
        /** What the target runs once logged in (its language); default: the target's `defaultVerify`. */
        query: z.string().min(1).optional(),
      })
      .strict()
      .optional(),
  })
  .strict();

/** Where the keeper publishes a dynamic credential, so consumers read it like any other secret. */
export const PublishSchema = z
  .object({
    provider: z.string().min(1),
    path: z.string().min(1),
  })
  .strict();

/** What `validate` warns about a lease block that works, but not as it reads. */
export function leaseWarnings(lease: LeaseConfig): string[] {
  if (!lease.renewal_enabled || lease.increment_seconds > lease.min_renewal_seconds) return [];
  const every = Math.round(lease.renew_at * lease.increment_seconds * 10) / 10;
  return [
    `lease.increment_seconds ${lease.increment_seconds} is not above lease.min_renewal_seconds ${lease.min_renewal_seconds}: ` +
      `each renewal grants at most ${lease.increment_seconds} s and is renewed again at renew_at of it (every ${every} s), ` +
      'more often than min_renewal_seconds asks; raise increment_seconds or lower min_renewal_seconds',
  ];
}

/** Past this, a keeper paced by keepers.rate waits long enough without a credential to be worth a warning. */
export const KEEPER_START_WARN_MS = 3_600_000;

/**
 * The warning for the last of `count` keepers a starter paces at `keepers.rate`, when its first task comes more than
 * KEEPER_START_WARN_MS after the first one's; null otherwise. Until then its secret has no credential.
 */
export function keeperStartWarning(keepers: KeepersConfig | undefined, count: number): string | null {
  const { rate } = keepers ?? KeepersSchema.parse({});
  const lastMs = ((count - 1) * rate.per) / rate.starts;
  if (lastMs <= KEEPER_START_WARN_MS) return null;
  return (
    `its lease keeper, the last of ${count} paced by keepers.rate (${rate.starts} per ${formatDuration(rate.per)}), ` +
    `begins ${(lastMs / 3_600_000).toFixed(1)} h after the first and has no credential until then; ` +
    'raise keepers.rate.starts or lower keepers.rate.per'
  );
}

export type ScheduleConfig = z.infer<typeof ScheduleSchema>;
export type WindowConfig = z.infer<typeof WindowSchema>;
export type SweepConfig = z.infer<typeof SweepSchema>;
export type KeepersConfig = z.infer<typeof KeepersSchema>;
export type LeaseConfig = z.infer<typeof LeaseSchema>;
