// The lifecycle's activities: plans from the worker's config, a secret's standing, and the sweep's assessment.
import { Context } from '@temporalio/activity';
import { WorkflowNotFoundError, type Client } from '@temporalio/client';
import { readerLeased, type Config } from '../src/config/schema';
import type { SweepConfig, WindowConfig } from '../src/config/lifecycle';
import { SweepSchema } from '../src/config/lifecycle';
import { eachLimited } from '../src/kernel/concurrency';
import { RotatorError } from '../src/kernel/errors';
import { insideWindow } from '../src/kernel/window';
import { toFailure } from '../src/kernel/redact';
import { planRotation, type RotationPlan } from '../src/config/plan';
import { firstTaskAhead } from '../src/client/lease-keepers';
import { listSchedules } from '../src/client/schedules';
import { needsHuman, standings, type Standing } from '../src/client/standing';
import {
  keeperIdFor,
  keeperStatusQuery,
  NOT_OK_LISTED,
  scheduleIdFor,
  type SecretAssessment,
  type SecretState,
} from '../workflows/lifecycle-definitions';
import type { FinishRevoke } from '../workflows/definitions';
import { guarded } from './guarded';
import { openTarget, type ProviderRegistry, type TargetRegistry } from './registry';
import { targetPlugin } from './targets';

export interface LifecycleDeps {
  /** The worker's whole config: scheduled work reads its plans here, never from a schedule's frozen arguments. */
  config: Config;
  /** For visibility, schedules and keeper status. */
  client: Client;
  providers: ProviderRegistry;
  /** For secrets whose target sets an expiry on its logins (postgresql `valid_for`): the sweep reads it back. */
  targets?: TargetRegistry;
  secrets?: ReadonlyArray<string>;
}

/** A failure takes at most this many tries in a row before the secret waits for a person (when no schedule says). */
export const DEFAULT_ATTEMPTS = 3;
/** How far back the sweep looks for failed rotations. */
const STANDING_LOOKBACK_MS = 90 * 86_400_000;
const STORE_READS_IN_FLIGHT = 32;

export interface ScheduledSetup {
  /** Null when the config no longer rotates this secret; `why` says so. */
  plan: RotationPlan | null;
  why: string | null;
  attempts: number;
  retryDelayMs: number;
  window: WindowConfig | null;
  needsHuman: boolean;
  consecutiveFailures: number;
}

export interface Assessment {
  assessed: number;
  counts: Record<SecretState, number>;
  notOk: SecretAssessment[];
  /** Secrets the sweep should rotate now, most overdue first. */
  due: string[];
  /** Dynamic secrets whose keeper is not running. */
  keepersToStart: string[];
  /** Secrets whose last rotation left the old credential valid (`revoke-incomplete`): the sweep withdraws it. */
  revokesToFinish: Array<{ secret: string; finish: FinishRevoke }>;
  sweep: SweepConfig;
}

const STATES: SecretState[] = ['ok', 'due', 'overdue', 'failing', 'needs-human'];

/**
 * Decides, for every rotatable and every dynamic secret of `config`, whether it is due. The same function serves the
 * sweep (on the worker) and `rotator expiry` (on the CLI), so both say the same thing.
 */
export async function assessSecrets(
  deps: LifecycleDeps,
  now: number,
  onProgress: (done: number) => void = () => undefined,
  options: { includeOk?: boolean; only?: string[] } = {},
): Promise<Assessment> {
  const { config, client, providers } = deps;
  requireSecrets(config);
  // Reasons are in the sweep's result, in history: a driver's message must not carry a config secret there.
  const why = (err: unknown) => toFailure(err, deps.secrets ?? []).message;
  const sweep = config.sweep ?? SweepSchema.parse({});
  const only = new Set(options.only ?? Object.keys(config.secrets));
  const [byStanding, schedules] = await Promise.all([
    standings(client, STANDING_LOOKBACK_MS, { now, only }),
    scheduleStates(client),
  ]);
  const rows: Array<SecretAssessment & { rotate: boolean; keeper: boolean; finish?: FinishRevoke }> = [];
  const names = [...only].filter((n) => config.secrets[n]).sort();
  let done = 0;
  await eachLimited(names, STORE_READS_IN_FLIGHT, async (name) => {
    const row = await assessOne(name);
    if (row) rows.push(row);
    if (++done % 500 === 0) onProgress(done);
  });

  async function assessOne(name: string) {
    const secret = config.secrets[name]!;
    // A dynamic secret without publish: is leased by its readers: there is no keeper to look for.
    if (secret.type === 'dynamic') return readerLeased(secret) ? null : assessKeeper(name);
    if (!secret.target || !secret.rotation) return null;
    const { rotation } = secret;
    const reasons: string[] = [];
    const attempts = rotation.schedule?.attempts ?? DEFAULT_ATTEMPTS;
    const standing: Standing | undefined = byStanding.get(name);
    let maxAge = rotation.max_age;
    if (rotation.schedule) {
      const paused = schedules.get(scheduleIdFor(name));
      if (paused === undefined) reasons.push('schedule missing (run rotator schedule sync)');
      else if (paused) reasons.push('schedule paused');
      // A schedule that does not run leaves the secret to the sweep, at the schedule's own interval.
      if (paused !== false && rotation.schedule.every !== undefined && maxAge === undefined) maxAge = rotation.schedule.every;
    }
    let lastRotated: number | null = null;
    // Only a store that can tell and says "no current version" makes a missing date overdue.
    let missing = false;
    try {
      const store = await providers.store(secret.provider);
      lastRotated = store.publishedAt ? await store.publishedAt(secret.path) : null;
      if (!store.publishedAt) reasons.push('the store does not say when it was written: max_age cannot be checked');
      else if (lastRotated === null) {
        missing = true;
        reasons.push('no current version in the store');
      }
    } catch (err) {
      reasons.push(`store unreadable: ${why(err)}`);
    }
    let expires = lastRotated !== null && maxAge !== undefined ? lastRotated + maxAge : null;
    const validUntil = await loginExpiry(name).catch((err: unknown) => {
      reasons.push(`login expiry unreadable: ${why(err)}`);
      return null;
    });
    if (validUntil !== null) {
      reasons.push(`login valid until ${new Date(validUntil).toISOString()}`);
      expires = expires === null ? validUntil : Math.min(expires, validUntil);
    }
    const renewal = await credentialRenewal(name).catch((err: unknown) => {
      reasons.push(`credential expiry unreadable: ${why(err)}`);
      return null;
    });
    if (renewal !== null) {
      const at = (ms: number) => new Date(ms).toISOString();
      reasons.push(`credential valid until ${at(renewal.notAfter)}, renewed from ${at(renewal.renewAt)}`);
      expires = expires === null ? renewal.notAfter : Math.min(expires, renewal.notAfter);
    }
    let timeState: SecretState = 'ok';
    if (maxAge !== undefined && missing) timeState = 'overdue';
    else if (expires !== null && now >= expires) timeState = 'overdue';
    else if (expires !== null && now >= expires - sweep.due_within) timeState = 'due';
    else if (renewal !== null && now >= renewal.renewAt) timeState = 'due';
    if (timeState === 'overdue' && expires !== null)
      reasons.push(
        renewal !== null && expires === renewal.notAfter
          ? `expired ${Math.round((now - expires) / 1000)} s ago`
          : `older than max_age by ${Math.round((now - expires) / 1000)} s`,
      );
    if (timeState === 'due')
      reasons.push(renewal !== null && now >= renewal.renewAt ? 'past its renewal point' : 'reaches max_age within due_within');
    let state: SecretState = timeState;
    // A revoke left unfinished comes first: the old credential must go before anything else is done with the secret.
    const finish = standing && !needsHuman(standing, attempts) ? (standing.revokeToFinish ?? undefined) : undefined;
    if (finish) {
      state = 'failing';
      const what = finish.username ? `login ${finish.username}` : `the password of version ${finish.version}`;
      reasons.push(`rotation ${finish.rotationId} could not revoke ${what}: the sweep withdraws it`);
      return { secret: name, state, lastRotated, expires, reasons, rotate: false, keeper: false, finish };
    }
    if (standing && needsHuman(standing, attempts)) {
      state = 'needs-human';
      reasons.push(`${standing.consecutiveFailures} failed rotation(s) in a row, the last ${standing.lastOutcome}`);
    } else if (standing && standing.consecutiveFailures > 0) {
      state = 'failing';
      reasons.push(`${standing.consecutiveFailures} of ${attempts} attempts failed`);
    }
    let rotate = state !== 'needs-human' && (timeState === 'due' || timeState === 'overdue');
    const window = rotation.schedule?.window;
    if (rotate && window && !insideWindow(now, window)) {
      rotate = false; // its own scheduled run, or a later sweep, rotates it when the window opens
      reasons.push(`waits for its window (${window.start}–${window.end} ${window.time_zone})`);
    }
    return { secret: name, state, lastRotated, expires, reasons, rotate, keeper: false };
  }

  /** The VALID UNTIL of the login the store publishes, for targets configured to set one; else null. */
  async function loginExpiry(name: string): Promise<number | null> {
    const secret = config.secrets[name]!;
    if (!deps.targets || !secret.target || !('valid_for' in secret.target) || !secret.target.valid_for) return null;
    const current = await (await providers.store(secret.provider)).readCurrent(secret.path);
    if (typeof current?.value.username !== 'string') return null;
    const target = await openTarget(providers, deps.targets, planRotation(config, name).target);
    return (await target.loginExpiry?.(current.value.username)) ?? null;
  }

  /** The renewal point and expiry of the credential the store publishes, for targets that read one from it; else null. */
  async function credentialRenewal(name: string): Promise<{ notAfter: number; renewAt: number } | null> {
    const secret = config.secrets[name]!;
    const plugin = secret.target ? targetPlugin(secret.target) : undefined;
    if (!plugin?.renewal) return null;
    const current = await (await providers.store(secret.provider)).readCurrent(secret.path);
    return current ? plugin.renewal(secret.target!, current.value) : null;
  }

  async function assessKeeper(name: string) {
    const handle = client.workflow.getHandle(keeperIdFor(name));
    const missing = {
      secret: name,
      state: 'overdue' as const,
      lastRotated: null,
      expires: null,
      reasons: ['keeper not running'],
      rotate: false,
      keeper: true,
    };
    try {
      const description = await handle.describe().catch((err: unknown) => {
        if (err instanceof WorkflowNotFoundError) return null;
        throw err;
      });
      if (!description || description.status.name !== 'RUNNING') return missing;
      const ahead = firstTaskAhead(description);
      // A keeper paced by keepers.rate, or issuing its first credential, has issued none yet: due, not ok.
      if (ahead) {
        const reasons = [`no credential yet: keeper starting at ${ahead.toISOString()} (keepers.rate)`];
        return { secret: name, state: 'due' as const, lastRotated: null, expires: null, reasons, rotate: false, keeper: false };
      }
      const status = await handle.query(keeperStatusQuery).catch(() => null);
      const reasons = status?.irrevocable.length ? [`${status.irrevocable.length} irrevocable lease(s)`] : [];
      if (status?.lastError) reasons.push(`keeper: ${status.lastError}`);
      const issuedNone = status !== null && !status.current;
      if (issuedNone) reasons.push(`keeper has issued no credential yet (${status.phase})`);
      const state: SecretState = status?.irrevocable.length || status?.lastError ? 'failing' : issuedNone ? 'due' : 'ok';
      return {
        secret: name,
        state,
        lastRotated: status?.current?.issuedAt ?? null,
        expires: status?.current?.expiresAt ?? null,
        reasons,
        rotate: false,
        keeper: false,
      };
    } catch (err) {
      // One keeper that cannot be read must not fail the assessment of every other secret.
      return { ...missing, state: 'failing' as const, reasons: [`keeper unreadable: ${why(err)}`], keeper: false };
    }
  }

  const counts = Object.fromEntries(STATES.map((s) => [s, 0])) as Record<SecretState, number>;
  for (const row of rows) counts[row.state]++;
  const byUrgency = (a: SecretAssessment, b: SecretAssessment) => (a.expires ?? 0) - (b.expires ?? 0);
  // The sweep reports only what is not ok (its report is in history); `rotator expiry` asks for every row.
  const notOk = options.includeOk ? [...rows].sort(byUrgency) : reportedNotOk(rows.filter((r) => r.state !== 'ok'));
  return {
    assessed: rows.length,
    counts,
    notOk: notOk.map(({ rotate: _r, keeper: _k, finish: _f, ...row }) => row),
    due: rows
      .filter((r) => r.rotate)
      .sort(byUrgency)
      .map((r) => r.secret),
    keepersToStart: rows.filter((r) => r.keeper).map((r) => r.secret),
    revokesToFinish: rows.flatMap((r) => (r.finish ? [{ secret: r.secret, finish: r.finish }] : [])),
    sweep,
  };
}

/**
 * The rows a sweep's report lists, at most NOT_OK_LISTED: the most severe first, so that a paced start of many keepers
 * (each due, without a credential or an expiry) cannot push an overdue or failing secret out of it; within a state the
 * soonest expiry first, and rows without one last.
 */
export function reportedNotOk<T extends Pick<SecretAssessment, 'state' | 'expires'>>(rows: ReadonlyArray<T>): T[] {
  const severity = (r: T) => -STATES.indexOf(r.state);
  const expiry = (a: T, b: T) => (a.expires === b.expires ? 0 : (a.expires ?? Infinity) < (b.expires ?? Infinity) ? -1 : 1);
  return [...rows].sort((a, b) => severity(a) - severity(b) || expiry(a, b)).slice(0, NOT_OK_LISTED);
}

/** A worker run for rotations only (no secrets:) cannot decide for scheduled work: another worker must. */
function requireSecrets(config: Config): void {
  if (Object.keys(config.secrets).length === 0)
    throw new RotatorError('TRANSIENT', "this worker's config has no secrets: it cannot run scheduled work");
}

/** Paused or not, by schedule id, for rotator's own Schedules: one list call for all of them. */
async function scheduleStates(client: Client): Promise<Map<string, boolean>> {
  return new Map((await listSchedules(client)).map((s) => [s.scheduleId, s.paused]));
}

export function createLifecycleActivities(deps: LifecycleDeps) {
  const { config, client } = deps;
  const secrets = deps.secrets ?? [];

  async function standingOf(secret: string): Promise<Standing | undefined> {
    return (await standings(client, STANDING_LOOKBACK_MS, { only: new Set([secret]) })).get(secret);
  }

  return {
    /** What a scheduled run of `secret` needs, read from the worker's config now. */
    scheduledSetup: guarded(async (secret: string): Promise<ScheduledSetup> => {
      requireSecrets(config);
      const entry = config.secrets[secret];
      const schedule = entry?.rotation?.schedule;
      const attempts = schedule?.attempts ?? DEFAULT_ATTEMPTS;
      const base = { attempts, retryDelayMs: schedule?.retry_delay ?? 600_000, window: schedule?.window ?? null };
      if (!entry?.target || !entry.rotation) {
        const why = entry ? 'the config no longer rotates this secret' : 'the config no longer has this secret';
        return { plan: null, why, ...base, needsHuman: false, consecutiveFailures: 0 };
      }
      const standing = await standingOf(secret);
      return {
        plan: planRotation(config, secret),
        why: null,
        ...base,
        needsHuman: !!standing && needsHuman(standing, attempts),
        consecutiveFailures: standing?.consecutiveFailures ?? 0,
      };
    }, secrets),

    planFor: guarded(async (secret: string): Promise<RotationPlan> => {
      if (!config.secrets[secret]) throw new RotatorError('NOT_FOUND', `the worker's config has no secret ${secret}`);
      return planRotation(config, secret);
    }, secrets),

    assessSecrets: guarded(async (): Promise<Assessment> => {
      const ctx = Context.current();
      return assessSecrets(deps, Date.now(), (done) => ctx.heartbeat(done));
    }, secrets),
  };
}

export type LifecycleActivities = ReturnType<typeof createLifecycleActivities>;
