// The Temporal Schedules that start scheduled rotations and the sweep, kept in line with the config by `schedule sync`.
import { eachLimited } from '../kernel/concurrency';
import { createHash } from 'node:crypto';
import {
  DAYS_OF_WEEK,
  MONTHS,
  ScheduleAlreadyRunning,
  ScheduleClient,
  ScheduleNotFoundError,
  type CalendarSpecDescription,
  type Client,
  type Range,
  type ScheduleDescription,
  type ScheduleHandle,
  type ScheduleOptionsStartWorkflowAction,
  type ScheduleOverlapPolicy,
  type ScheduleSpec,
  type ScheduleSpecDescription,
  type ScheduleSummary,
} from '@temporalio/client';
import type { Payload, PayloadCodec, Workflow } from '@temporalio/common';
import type { Config } from '../config/schema';
import { formatDuration } from '../kernel/duration';
import { RotatorError } from '../kernel/errors';
import { ROTATION_TASK_TIMEOUT } from './rotations';
import {
  SCHEDULE_PREFIX,
  SCHEDULED_ROTATION,
  SWEEP,
  SWEEP_SCHEDULE_ID,
  SWEEP_WORKFLOW_ID,
  scheduleIdFor,
  scheduledWorkflowIdFor,
  type ScheduledRotationInput,
} from '../../workflows/lifecycle-definitions';

/** The memo that marks a Schedule as rotator's. Sync, list, pause, resume and trigger touch no Schedule without it. */
export const MANAGED_BY = 'rotator';
export const MANAGED_NOTE = 'managed by rotator (rotator schedule sync)';
/** Long enough to ride out a worker restart, short enough that an outage of days does not fire a storm on recovery. */
export const CATCHUP_WINDOW_MS = 10 * 60_000;
/** What `pause`, `resume` and `trigger` take for the sweep's Schedule. */
export const SWEEP_NAME = 'sweep';

export interface DesiredSchedule {
  scheduleId: string;
  /** The secret it rotates, or `sweep`. */
  secret: string;
  spec: ScheduleSpec;
  action: ScheduleOptionsStartWorkflowAction<Workflow>;
  policies: { overlap: ScheduleOverlapPolicy; catchupWindow: number };
  state: { paused: boolean; note: string };
}

export interface SchedulePlan {
  create: string[];
  /** `changed` names the parts of the definition that differ: spec, action, policies, paused; `definition` when unknown. */
  update: Array<{ id: string; changed: string[] }>;
  delete: string[];
  unchanged: string[];
}

export interface ScheduleRow {
  scheduleId: string;
  /** The secret it rotates, or `sweep`. */
  secret: string;
  /** What the server holds, as people write it: `every 1h, jitter 10m`, `0 3 * * 1, in Europe/Berlin`. */
  spec: string;
  paused: boolean;
  note: string | null;
  nextActionTimes: Date[];
  lastAction: { scheduledAt: Date; takenAt: Date; workflowId: string } | null;
}

/** The Schedules the config asks for: one per secret with `rotation.schedule`, and the sweep's when `sweep:` is set. */
export function desiredSchedules(config: Config): DesiredSchedule[] {
  const common = { taskQueue: config.temporal.task_queue, workflowTaskTimeout: ROTATION_TASK_TIMEOUT } as const;
  const policies = { overlap: 'SKIP', catchupWindow: CATCHUP_WINDOW_MS } as const;
  const out: DesiredSchedule[] = [];
  for (const [secret, entry] of Object.entries(config.secrets)) {
    const s = entry.rotation?.schedule;
    if (!s) continue;
    const input: ScheduledRotationInput = { secret, trigger: 'schedule' };
    out.push({
      scheduleId: scheduleIdFor(secret),
      secret,
      spec: {
        ...(s.every !== undefined ? { intervals: [{ every: s.every }] } : { cronExpressions: [s.cron!] }),
        jitter: s.jitter,
        ...(s.window ? { timezone: s.window.time_zone } : {}),
      },
      action: {
        type: 'startWorkflow',
        workflowType: SCHEDULED_ROTATION,
        workflowId: scheduledWorkflowIdFor(secret),
        args: [input],
        ...common,
      },
      policies,
      state: { paused: s.paused, note: MANAGED_NOTE },
    });
  }
  if (config.sweep) {
    out.push({
      scheduleId: SWEEP_SCHEDULE_ID,
      secret: SWEEP_NAME,
      spec: { intervals: [{ every: config.sweep.every }], jitter: 0 },
      action: { type: 'startWorkflow', workflowType: SWEEP, workflowId: SWEEP_WORKFLOW_ID, args: [], ...common },
      policies,
      state: { paused: config.sweep.paused, note: MANAGED_NOTE },
    });
  }
  return out;
}

/** Lists once and compares each owned Schedule's definition marker with the config's. */
export async function planScheduleSync(client: Client, config: Config): Promise<SchedulePlan> {
  const owned = new Map<string, ScheduleSummary>();
  for await (const s of schedulesOf(client).list()) if (isOwned(s)) owned.set(s.scheduleId, s);
  const plan: SchedulePlan = { create: [], update: [], delete: [], unchanged: [] };
  const desired = desiredSchedules(config);
  for (const d of desired) {
    const live = owned.get(d.scheduleId);
    if (!live) {
      plan.create.push(d.scheduleId);
      continue;
    }
    const changed = changedParts(readMarker(live.spec), definitionOf(d));
    if (changed.length) plan.update.push({ id: d.scheduleId, changed });
    else plan.unchanged.push(d.scheduleId);
  }
  const wanted = new Set(desired.map((d) => d.scheduleId));
  plan.delete = [...owned.keys()].filter((id) => !wanted.has(id));
  for (const list of [plan.create, plan.delete, plan.unchanged]) list.sort();
  plan.update.sort((a, b) => byId(a.id, b.id));
  return plan;
}

/**
 * Carries out a plan and returns what was done. Each step checks the live Schedule again, so a plan made from a
 * listing that lags behind (visibility is eventually consistent) neither repeats an update nor touches a foreign one.
 */
export async function applyScheduleSync(client: Client, config: Config, plan: SchedulePlan): Promise<SchedulePlan> {
  const schedules = schedulesOf(client);
  const desired = new Map(desiredSchedules(config).map((d) => [d.scheduleId, d]));
  const done: SchedulePlan = { create: [], update: [], delete: [], unchanged: [...plan.unchanged] };
  const foreign: string[] = [];

  await inParallel(plan.delete, async (id) => {
    const live = await schedules
      .getHandle(id)
      .describe()
      .catch((err: unknown) => (err instanceof ScheduleNotFoundError ? null : Promise.reject(err)));
    if (!live) return;
    if (!isOwned(live)) {
      foreign.push(id);
      return;
    }
    await schedules.getHandle(id).delete();
    done.delete.push(id);
  });
  const update = async (d: DesiredSchedule): Promise<void> => {
    const outcome = await updateSchedule(schedules, d);
    if (outcome === 'foreign') foreign.push(d.scheduleId);
    else if (outcome.length) done.update.push({ id: d.scheduleId, changed: outcome });
    else done.unchanged.push(d.scheduleId);
  };
  await inParallel(plan.update, async ({ id }) => {
    const d = desired.get(id);
    if (d) await update(d);
  });
  await inParallel(plan.create, async (id) => {
    const d = desired.get(id);
    if (!d) return;
    try {
      await schedules.create({
        scheduleId: d.scheduleId,
        spec: withMarker(d),
        action: d.action,
        policies: d.policies,
        state: d.state,
        memo: { managedBy: MANAGED_BY },
      });
      done.create.push(id);
    } catch (err) {
      if (!(err instanceof ScheduleAlreadyRunning)) throw err;
      await update(d);
    }
  });
  for (const list of [done.create, done.delete, done.unchanged, foreign]) list.sort(byId);
  done.update.sort((a, b) => byId(a.id, b.id));
  if (foreign.length) {
    throw new RotatorError(
      'CONFLICT',
      `${foreign.join(', ')}: a Schedule with this id exists but is not rotator's (no managedBy memo rotator can read); it was left alone: delete it, or rename the secret`,
    );
  }
  return done;
}

/** Schedule calls in flight at once during a sync: 1,000 Schedules one by one took ~26 s, 8 at a time a few. */
const SYNC_CONCURRENCY = 8;
const inParallel = <T>(items: T[], fn: (item: T) => Promise<void>) => eachLimited(items, SYNC_CONCURRENCY, fn);

/** The owned Schedules, with what they do in a line and when they act next. */
export async function listSchedules(client: Client): Promise<ScheduleRow[]> {
  const rows: ScheduleRow[] = [];
  for await (const s of schedulesOf(client).list()) {
    if (!isOwned(s)) continue;
    const last = s.info.recentActions.at(-1);
    rows.push({
      scheduleId: s.scheduleId,
      secret: secretOf(s.scheduleId),
      spec: describeSpec(s.spec),
      paused: s.state.paused,
      note: s.state.note || null,
      nextActionTimes: s.info.nextActionTimes,
      lastAction: last
        ? { scheduledAt: last.scheduledAt, takenAt: last.takenAt, workflowId: last.action.workflow.workflowId }
        : null,
    });
  }
  return rows.sort((a, b) => byId(a.scheduleId, b.scheduleId));
}

export async function pauseSchedule(client: Client, secret: string, note?: string): Promise<void> {
  const { handle } = await ownedHandle(client, secret);
  await handle.pause(note ?? 'paused with rotator schedule pause');
}

export async function resumeSchedule(client: Client, secret: string, note?: string): Promise<void> {
  const { handle } = await ownedHandle(client, secret);
  await handle.unpause(note ?? MANAGED_NOTE);
}

/**
 * Starts the Schedule's action now, unless a run it started is still going (`alreadyRunning` names it; nothing is
 * started). Temporal triggers a paused Schedule too; rotator refuses, because a pause is how someone stops the
 * rotations of a secret (the note says why), and `rotator rotate` is there for a one-off rotation.
 */
export async function triggerSchedule(
  client: Client,
  secret: string,
): Promise<{ scheduleId: string; alreadyRunning: string | null }> {
  const { handle, live } = await ownedHandle(client, secret);
  if (live.state.paused) {
    const rotateOnce = secret === SWEEP_NAME ? '' : `, or rotate once with rotator rotate ${secret}`;
    throw new RotatorError(
      'CONFLICT',
      `the schedule of ${secret} is paused${live.state.note ? ` (${live.state.note})` : ''}: resume it first (rotator schedule resume ${secret})${rotateOnce}`,
    );
  }
  const running = live.info.runningActions[0]?.workflow.workflowId ?? null;
  // SKIP, not the SDK's default ALLOW_ALL: a run started since the describe above is not joined by a second one.
  if (!running) await handle.trigger('SKIP');
  return { scheduleId: handle.scheduleId, alreadyRunning: running };
}

/** `every 1h, jitter 10m`, `0 3 * * 1, in Europe/Berlin`: a Schedule's spec as the config would say it. */
export function describeSpec(spec: ScheduleSpecDescription | undefined): string {
  const parts = [
    ...(spec?.intervals ?? []).map(
      (i) => `every ${formatDuration(i.every)}${i.offset ? ` offset ${formatDuration(i.offset)}` : ''}`,
    ),
    ...(spec?.calendars ?? []).map(cronOf),
  ];
  if (spec?.jitter) parts.push(`jitter ${formatDuration(spec.jitter)}`);
  if (spec?.timezone) parts.push(`in ${spec.timezone}`);
  return parts.join(', ') || '(no times)';
}

// --- the definition marker ---------------------------------------------------------------------------------------

/**
 * A Schedule's memo cannot be changed after creation on workflow-backed Schedules (server 1.32 answers
 * FAILED_PRECONDITION; SDK 1.24's update does not send one), so the memo only says who owns the Schedule, and the
 * definition's hash rides in the spec: a skip entry for 1970, which holds no future time, whose comment is the hash.
 * `handle.update` replaces it with the spec, and list returns it, so one listing tells what changed. A spec edited by
 * hand loses the marker, and the next sync puts the config's definition back.
 */
const MARKER = /^rotator definition sha256:([0-9a-f]{64})((?: [a-z]+:[0-9a-f]{12})*)/;
const PARTS = ['spec', 'action', 'policies', 'paused'] as const;

interface Definition {
  sha256: string;
  parts: Record<string, string>;
}

/** The note is left out: it is state that people and `pause` write, not config. */
function definitionOf(d: DesiredSchedule): Definition {
  const whole = { spec: d.spec, action: d.action, policies: d.policies, paused: d.state.paused };
  const parts = Object.fromEntries(PARTS.map((p) => [p, sha256(canonicalJson(whole[p])).slice(0, 12)]));
  return { sha256: sha256(canonicalJson(whole)), parts };
}

function withMarker(d: DesiredSchedule): ScheduleSpec {
  const { sha256: hash, parts } = definitionOf(d);
  const comment = `rotator definition sha256:${hash}${PARTS.map((p) => ` ${p}:${parts[p]}`).join('')} (a marker: 1970 holds no future time)`;
  return { ...d.spec, skip: [{ year: 1970, comment }] };
}

function readMarker(spec: ScheduleSpecDescription | undefined): Definition | null {
  for (const s of spec?.skip ?? []) {
    const m = MARKER.exec(s.comment ?? '');
    if (!m) continue;
    const parts = Object.fromEntries(
      m[2]
        .trim()
        .split(' ')
        .filter(Boolean)
        .map((kv) => kv.split(':') as [string, string]),
    );
    return { sha256: m[1], parts };
  }
  return null;
}

function changedParts(live: Definition | null, want: Definition): string[] {
  if (live?.sha256 === want.sha256) return [];
  const changed = PARTS.filter((p) => live?.parts[p] !== want.parts[p]);
  return live && changed.length ? changed : ['definition'];
}

/** Updates one owned Schedule to its definition; what changed (empty: it was current already), or `foreign`. */
async function updateSchedule(schedules: ScheduleClient, d: DesiredSchedule): Promise<string[] | 'foreign'> {
  // update() hands us the live Schedule and sends whatever we return; throwing is the only way to send nothing.
  class NoUpdate {
    constructor(readonly outcome: [] | 'foreign') {}
  }
  let changed: string[] = [];
  try {
    await schedules.getHandle(d.scheduleId).update((prev) => {
      if (!isOwned(prev)) throw new NoUpdate('foreign');
      changed = changedParts(readMarker(prev.spec), definitionOf(d));
      if (changed.length === 0) throw new NoUpdate([]);
      // A pause set by hand survives a change the config did not make to `paused`.
      const keepState = !changed.includes('paused') && !changed.includes('definition');
      const state = keepState ? { paused: prev.state.paused, note: prev.state.note } : d.state;
      return { spec: withMarker(d), action: d.action, policies: d.policies, state };
    });
  } catch (err) {
    if (err instanceof NoUpdate) return err.outcome;
    throw err;
  }
  return changed;
}

// --- helpers -----------------------------------------------------------------------------------------------------

const byId = (a: string, b: string) => (a < b ? -1 : a > b ? 1 : 0);

function isOwned(s: Pick<ScheduleSummary, 'scheduleId' | 'memo'>): boolean {
  return s.scheduleId.startsWith(SCHEDULE_PREFIX) && s.memo?.managedBy === MANAGED_BY;
}

function secretOf(scheduleId: string): string {
  if (scheduleId === SWEEP_SCHEDULE_ID) return SWEEP_NAME;
  const rotate = scheduleIdFor('');
  return scheduleId.startsWith(rotate) ? scheduleId.slice(rotate.length) : scheduleId.slice(SCHEDULE_PREFIX.length);
}

async function ownedHandle(client: Client, secret: string): Promise<{ handle: ScheduleHandle; live: ScheduleDescription }> {
  const id = secret === SWEEP_NAME ? SWEEP_SCHEDULE_ID : scheduleIdFor(secret);
  const handle = schedulesOf(client).getHandle(id);
  const live = await handle
    .describe()
    .catch((err: unknown) => (err instanceof ScheduleNotFoundError ? null : Promise.reject(err)));
  if (!live || !isOwned(live)) {
    throw new RotatorError(
      'NOT_FOUND',
      `no rotator schedule for ${secret} (rotator schedule sync creates one for each secret with rotation.schedule, and the sweep's)`,
      'secret',
    );
  }
  return { handle, live };
}

const UNREADABLE: Payload = { metadata: { encoding: new TextEncoder().encode('binary/null') } };

/**
 * A ScheduleClient on the client's connection whose decoding tolerates what it cannot read. Listing decodes every
 * Schedule's memo in the namespace, and rotator's codec refuses plaintext, so one foreign Schedule with a memo would
 * otherwise fail the whole listing. A memo that does not decode reads as empty: not rotator's.
 */
function schedulesOf(client: Client): ScheduleClient {
  const { payloadCodecs, payloadConverter } = client.options.loadedDataConverter;
  const codec: PayloadCodec = {
    async encode(payloads) {
      for (const c of payloadCodecs) payloads = await c.encode(payloads);
      return payloads;
    },
    decode: (payloads) =>
      Promise.all(
        payloads.map(async (payload) => {
          try {
            let [p] = [payload];
            for (const c of [...payloadCodecs].reverse()) [p] = await c.decode([p]);
            payloadConverter.fromPayload(p);
            return p;
          } catch {
            return UNREADABLE;
          }
        }),
      ),
  };
  return new ScheduleClient({
    connection: client.connection,
    namespace: client.options.namespace,
    identity: client.options.identity,
    dataConverter: { payloadCodecs: [codec] },
  });
}

function sha256(text: string): string {
  return createHash('sha256').update(text).digest('hex');
}

/** JSON with object keys sorted at every level and undefined left out, so equal definitions hash alike. */
function canonicalJson(value: unknown): string {
  if (Array.isArray(value)) return `[${value.map(canonicalJson).join(',')}]`;
  if (value && typeof value === 'object') {
    const entries = Object.entries(value as Record<string, unknown>)
      .filter(([, v]) => v !== undefined)
      .sort(([a], [b]) => byId(a, b));
    return `{${entries.map(([k, v]) => `${JSON.stringify(k)}:${canonicalJson(v)}`).join(',')}}`;
  }
  return JSON.stringify(value);
}

/** A calendar as its cron fields (minute hour day-of-month month day-of-week). */
function cronOf(c: CalendarSpecDescription): string {
  const cron = [
    cronField(c.minute, 0, 59),
    cronField(c.hour, 0, 23),
    cronField(c.dayOfMonth, 1, 31),
    cronField(c.month, 1, 12, MONTHS, 1),
    cronField(c.dayOfWeek, 0, 6, DAYS_OF_WEEK),
  ].join(' ');
  return c.comment ? `${cron} (${c.comment})` : cron;
}

function cronField(
  ranges: Array<Range<number | string>>,
  lo: number,
  hi: number,
  names: readonly string[] = [],
  base = 0,
): string {
  const num = (u: number | string) => (typeof u === 'string' ? names.indexOf(u) + base : u);
  if (ranges.length === 0) return '*';
  return ranges
    .map(({ start, end, step }) => {
      const [a, b] = [num(start), num(end)];
      const every = step > 1 ? `/${step}` : '';
      if (a === lo && b === hi) return `*${every}`;
      return a === b ? `${a}` : `${a}-${b}${every}`;
    })
    .join(',');
}
