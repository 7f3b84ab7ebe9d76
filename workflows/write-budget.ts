// writeBudget: one per provider, the write budget every rotation of a mass run takes tokens from before it writes to
// the store. A sliding log of grants: at most C tokens are granted in any window of C/perSecond seconds plus SLACK_MS,
// so the writes a grant covers may arrive up to SLACK_MS late at the store and any window there still holds at most
// C. A grant is a delay (how long the caller waits from the answer), never a time: the workflow's clock (the Temporal
// server's) and the worker's are never compared, so skew between them can neither send writes early nor stall them.
// Grants are in history, so a worker's death loses none; a grant whose writes were never sent is only unused.
//
// Leases (patch write-budget-leases), what the gate asks for now: a grant is a moment, and a moment the worker learns
// only after a slow answer (seconds under load) is missed; a lease is a share of the capacity (tokens per window) a
// process holds for a while and spends by its own clock, so however late the answer comes nothing is missed. A lease
// counts from its grant (before the holder can learn of it) to its end plus a window (the holder sends only while it
// runs, by its own clock from its ask, which came before the grant); the shares of all holders counting at a grant sum
// to at most C; each holder sends at most its share in any window of its own clock. So any window at the store holds
// at most C: of the leases whose writes reach it, the last granted was checked against all the others. A holder that
// dies gives its share back a lease and a window later; nothing is lost.
import { allHandlersFinished, condition, continueAsNew, setHandler } from '@temporalio/workflow';
import { patched } from './lib/patches';
import {
  leaseTokensUpdate,
  takeSlotsUpdate,
  type LeaseGrant,
  type LeaseRequest,
  type SlotGrant,
  type SlotRequest,
  type WriteBudgetInput,
} from './mass-definitions';

/**
 * How late after its grant a write may reach the store when the request does not say (`lateMs`): a grant counts in
 * the log for its window plus this long, so writes that arrive that late still keep every window at the budget.
 */
export const SLACK_MS = 150;
/** The most lateness a request may declare. */
export const MAX_LATE_MS = 5_000;
/** The longest lease a holder may ask for. */
export const MAX_LEASE_MS = 60_000;
/** A holder that asked this recently shares the capacity with the others (a fair share), even while it holds none. */
const ASKER_TTL_MS = 30_000;
/** The grants kept at least this long (a budget of 1/s or more has windows of about a second). */
const MIN_KEEP_MS = 60_000;
/** Grants per run before continue-as-new keeps the history short. */
const GRANTS_PER_RUN = 400;
/** A budget nobody asked for this long ends; the next request starts it again. */
const IDLE_MS = 5 * 60_000;

/** A grant in the log: `n` tokens at `at` (the budget's clock), whose writes may arrive up to `lateMs` later. */
export interface Grant {
  at: number;
  n: number;
  lateMs?: number;
}

/**
 * The earliest time ≥ `from` at which `n` more tokens keep every window at or under `capacity`: a grant counts for
 * `windowMs` (a grant without `lateMs`), or for the window without the default slack plus its own `lateMs`, so its
 * writes arriving that late at the store still share no window with more than `capacity` others.
 */
export function nextSlot(grants: ReadonlyArray<Grant>, from: number, n: number, capacity: number, windowMs: number): number {
  const reach = (g: Grant) => (g.lateMs === undefined ? windowMs : windowMs - SLACK_MS + g.lateMs);
  let t = from;
  for (;;) {
    const inWindow = grants.filter((g) => g.at > t - reach(g) && g.at <= t);
    const used = inWindow.reduce((sum, g) => sum + g.n, 0);
    // A request larger than the whole capacity waits for an empty window and takes it alone.
    if (used + n <= capacity || (used === 0 && n > capacity)) return t;
    t = Math.min(...inWindow.map((g) => g.at + reach(g)));
  }
}

/** A lease in the budget's clock: `tokens` per window for `holder`, counting from `from` to `until` plus `windowMs`. */
export interface Lease {
  holder: string;
  from: number;
  until: number;
  tokens: number;
  windowMs: number;
}

/** A budget's log of grants, in the workflow's clock: what each request is checked against. */
export interface GrantLog {
  grants: Grant[];
  /** Leases still counting (their end plus a window is ahead). */
  leases?: Lease[];
  /** When each holder last asked for a lease. */
  askers?: Record<string, number>;
  /** How long a grant stays in the log: the longest window any request asked for, and never below a minute. */
  keepMs: number;
  /** The longest window any request of this run asked for: a grant counts that long. */
  longestWindowMs: number;
}

export function grantWindow(perSecond: number): { capacity: number; windowMs: number } {
  const capacity = Math.max(1, Math.floor(perSecond));
  return { capacity, windowMs: (capacity / perSecond) * 1000 + SLACK_MS };
}

/**
 * Grants `n` tokens of budget `perSecond` asked for at `now` (the workflow's clock): the log gains the grant, and the
 * answer is the delay from `now` the writes must wait. Grants leave the log only once no later window can reach them.
 */
export function grant(log: GrantLog, { perSecond, n, lateMs }: SlotRequest, now: number): SlotGrant {
  const { capacity, windowMs } = grantWindow(perSecond);
  const reach = windowMs - SLACK_MS + (lateMs ?? SLACK_MS);
  log.keepMs = Math.max(log.keepMs, reach, MIN_KEEP_MS);
  log.longestWindowMs = Math.max(log.longestWindowMs, reach);
  // Never before an earlier grant: the log stays in order, and a window is checked against all it holds.
  const from = Math.max(now, log.grants.at(-1)?.at ?? 0);
  // A lease counts as a grant of its tokens at its start that reaches to its end plus its window.
  const held = (log.leases ?? []).map((l) => ({
    at: l.from,
    n: l.tokens,
    lateMs: l.until + l.windowMs - l.from - windowMs + SLACK_MS,
  }));
  const at = nextSlot([...log.grants, ...held], from, n, capacity, windowMs);
  log.grants.push({ at, n, ...(lateMs !== undefined ? { lateMs } : {}) });
  while (log.grants.length > 0 && log.grants[0]!.at <= at - log.keepMs) log.grants.shift();
  return { at, delayMs: at - now };
}

/**
 * Leases `want` tokens per window of budget `perSecond` to `holder` at `now` (the workflow's clock): as many as the
 * other holders' leases still counting leave (each holder counts with its largest), and no more than a fair share
 * while others asked lately; none (ask again after `retryMs`) if nothing is left.
 */
export function lease(log: GrantLog, { perSecond, holder, want, leaseMs }: LeaseRequest, now: number): LeaseGrant {
  const { capacity, windowMs } = grantWindow(perSecond);
  const leases = (log.leases ??= []).filter((l) => l.until + l.windowMs > now);
  const askers = (log.askers ??= {});
  for (const [h, at] of Object.entries(askers)) if (at <= now - ASKER_TTL_MS) delete askers[h];
  askers[holder] = now;
  const others = new Map<string, number>();
  for (const l of leases) if (l.holder !== holder) others.set(l.holder, Math.max(others.get(l.holder) ?? 0, l.tokens));
  // Grants of the per-write kind still counting (a gate of an earlier version) take their tokens too.
  const granted = log.grants
    .filter((g) => g.at + (g.lateMs === undefined ? windowMs : windowMs - SLACK_MS + g.lateMs) > now)
    .reduce((sum, g) => sum + g.n, 0);
  const free = capacity - granted - [...others.values()].reduce((a, b) => a + b, 0);
  const holders = new Set([...others.keys(), ...Object.keys(askers)]).size;
  const fair = Math.max(1, Math.floor(capacity / holders));
  // A holder renewing leaves a token for each asker that holds none: with more holders than tokens, the tokens go
  // round instead of staying with whoever renews first.
  const renewing = leases.some((l) => l.holder === holder);
  const waiting = Object.keys(askers).filter((h) => h !== holder && !others.has(h)).length;
  const tokens = Math.max(0, Math.min(want, free - (renewing ? waiting : 0), fair));
  if (tokens > 0) {
    leases.push({ holder, from: now, until: now + leaseMs, tokens, windowMs });
    log.keepMs = Math.max(log.keepMs, leaseMs + windowMs, MIN_KEEP_MS);
  }
  log.leases = leases;
  // Nothing left: ask again once the first of the others' leases stops counting.
  const ends = leases.filter((l) => l.holder !== holder).map((l) => l.until + l.windowMs - now);
  const retryMs = tokens > 0 ? 0 : Math.min(ASKER_TTL_MS / 2, Math.max(200, ...(ends.length ? [Math.min(...ends)] : [])));
  return { tokens, leaseMs, windowMs, retryMs };
}

/** How long past `now` the log still holds a grant or a lease some window can reach: the budget may not end before. */
export function stillCountingMs(log: GrantLog, now: number): number {
  const last = log.grants.at(-1)?.at;
  const grants = last === undefined ? 0 : Math.max(0, last + log.longestWindowMs - now);
  return Math.max(grants, ...(log.leases ?? []).map((l) => l.until + l.windowMs - now));
}

export async function writeBudget(input: WriteBudgetInput = {}): Promise<void> {
  const keepMs = Math.max(input.keepMs ?? 0, MIN_KEEP_MS);
  // A carried grant counts as long as the log keeps it: the window it was granted in is not carried.
  const log: GrantLog = {
    grants: [...(input.grants ?? [])],
    keepMs,
    longestWindowMs: input.grants?.length ? keepMs : 0,
    ...(input.leases ? { leases: [...input.leases] } : {}),
    ...(input.askers ? { askers: { ...input.askers } } : {}),
  };
  const idleMs = input.idleMs ?? IDLE_MS;
  // Before this patch an idle budget ended after IDLE_MS whatever its grants' windows (a budget under 1 request per
  // few minutes forgot grants it still needed).
  const keepsWindows = patched('write-budget-window');
  // Before this patch the budget granted moments only; a run of that code asked for a lease answers none and continues
  // as new (its grants carried), and the new run leases.
  const leases = patched('write-budget-leases');
  let granted = 0;
  let renew = false;
  setHandler(
    leaseTokensUpdate,
    (request: LeaseRequest): LeaseGrant => {
      if (!leases) {
        renew = true;
        return { tokens: 0, leaseMs: request.leaseMs, windowMs: grantWindow(request.perSecond).windowMs, retryMs: 200 };
      }
      granted++;
      return lease(log, request, Date.now());
    },
    {
      validator: ({ perSecond, holder, want, leaseMs }: LeaseRequest) => {
        if (!(perSecond > 0) || !Number.isInteger(want) || want < 1)
          throw new Error('perSecond: expected > 0; want: expected an integer ≥ 1');
        if (typeof holder !== 'string' || holder === '') throw new Error('holder: expected a name');
        if (!(leaseMs >= 1_000 && leaseMs <= MAX_LEASE_MS)) throw new Error(`leaseMs: expected 1000 to ${MAX_LEASE_MS}`);
      },
    },
  );
  setHandler(takeSlotsUpdate, (request: SlotRequest): SlotGrant => (granted++, grant(log, request, Date.now())), {
    validator: ({ perSecond, n, lateMs }: SlotRequest) => {
      if (!(perSecond > 0) || !Number.isInteger(n) || n < 1)
        throw new Error('perSecond: expected > 0; n: expected an integer ≥ 1');
      if (lateMs !== undefined && !(lateMs >= 0 && lateMs <= MAX_LATE_MS))
        throw new Error(`lateMs: expected 0 to ${MAX_LATE_MS}`);
    },
  });
  while (granted < GRANTS_PER_RUN && !renew) {
    const seen = granted;
    // Idle: end, but only once no window can reach a grant it gave (the next request starts it again, empty).
    const wait = Math.max(idleMs, stillCountingMs(log, Date.now()));
    if (!(await condition(() => granted !== seen || renew, keepsWindows ? wait : IDLE_MS))) {
      if (!keepsWindows || stillCountingMs(log, Date.now()) === 0) break;
    }
  }
  await condition(allHandlersFinished);
  if (granted >= GRANTS_PER_RUN || renew) {
    const last = log.grants.at(-1)?.at ?? 0;
    const now = Date.now();
    await continueAsNew<typeof writeBudget>({
      grants: log.grants.filter((g) => g.at > last - log.keepMs),
      keepMs: log.keepMs,
      ...(input.idleMs !== undefined ? { idleMs: input.idleMs } : {}),
      ...(log.leases?.length ? { leases: log.leases.filter((l) => l.until + l.windowMs > now) } : {}),
      ...(log.askers ? { askers: log.askers } : {}),
    });
  }
}
