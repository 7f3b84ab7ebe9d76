// A dynamic secret leased by its reader (the L5 spec's `type: dynamic` without `publish:`), as OpenBao Agent leases
// the credentials its templates render: the reader library issues one on first use, renews it at `renew_at` of the
// duration the engine granted (the secret's `lease:` block), issues the next one before the role's max_ttl ends the
// lease, and revokes what it holds when it closes.
//
// Timing follows rotator's own lease keeper (workflows/lease-keeper.ts):
// - renew once `renew_at` of the last granted duration has passed (never later than a moment before it ends);
// - issue the next credential `grace_period + lead` before the lease's hard end (issue + max_ttl), where lead is
//   (1 - renew_at) of the first granted duration, at least 2 s; without renewals (disabled, capped, or failing), before
//   the lease's current end instead.
// After a re-issue the previous credential stays valid: a caller that holds it (a pooled connection) keeps working
// until it reconnects, and `previous()` still offers it. Its lease is revoked `grace_period` after the re-issue when
// one is set, else the engine ends it at its own end; `close()` revokes every lease still held.
// No credential value leaves this module except through `current()` / `previous()`; logs carry lease ids only.
import type { LeaseConfig } from '../config/lifecycle';
import type { LeaseEngine } from '../../activities/leases/types';
import { RotatorError } from '../kernel/errors';

/** The least time between issuing the next credential and the end of the lease it replaces. */
const MIN_LEAD_MS = 2_000;
const MAX_TIMER_MS = 2_147_483_647;

export interface HeldLease {
  leaseId: string;
  username: string;
  password: string;
  /** When it was issued and when its lease ends unless renewed (epoch ms, this process's clock). */
  issuedAt: number;
  expiresAt: number;
  /** The lease cannot outlive this (issue + the role's max_ttl), when the engine says; else null. */
  hardEndAt: number | null;
  initialDurationMs: number;
  lastDurationMs: number;
  renewals: number;
  /** The engine granted less than asked: only a new credential lasts longer. */
  capped: boolean;
}

/** What the lease holder did, for the library's listeners and logs: lease ids, never a credential. */
export type LeaseEvent =
  | { kind: 'issued'; leaseId: string; expiresAt: number }
  | { kind: 'renewed'; leaseId: string; expiresAt: number; capped: boolean }
  | { kind: 'reissued'; leaseId: string; previousLeaseId: string; expiresAt: number }
  | { kind: 'revoked'; leaseId: string }
  | { kind: 'failed'; leaseId: string | null; step: 'issue' | 'renew' | 'revoke'; code: string };

export interface LeaseStatus {
  current: Omit<HeldLease, 'password'> | null;
  previous: Array<Omit<HeldLease, 'password'>>;
  reissues: number;
  renewals: number;
  revoked: string[];
  nextStep: { at: number; kind: 'renew' | 'reissue' } | null;
}

export interface ReaderLeaseOptions {
  engine: () => Promise<LeaseEngine>;
  /** `<mount>/creds/<role>` split. */
  mount: string;
  role: string;
  lease: LeaseConfig;
  /** Where errors and events name the secret (`secrets.<name>`). */
  secret: string;
  now?: () => number;
  onEvent?: (event: LeaseEvent) => void;
}

const withoutPassword = ({ password: _, ...rest }: HeldLease): Omit<HeldLease, 'password'> => rest;

export class ReaderLease {
  private held: HeldLease | null = null;
  private older: HeldLease[] = [];
  private issuing: Promise<HeldLease> | null = null;
  private timer: NodeJS.Timeout | null = null;
  private next: { at: number; kind: 'renew' | 'reissue' } | null = null;
  private readonly revokeTimers = new Set<NodeJS.Timeout>();
  private readonly revoked: string[] = [];
  private reissues = 0;
  private renewals = 0;
  private maxTtlSec: number | null | undefined;
  /** One step (renew, re-issue, revoke) at a time; close() waits for the one running. */
  private step: Promise<void> = Promise.resolve();
  private closed = false;
  private readonly now: () => number;

  constructor(private readonly options: ReaderLeaseOptions) {
    this.now = options.now ?? Date.now;
  }

  /** The credential to use now: issued on the first call, then the one this holder keeps current. */
  async current(): Promise<HeldLease> {
    if (this.closed) throw new RotatorError('CONFIG_INVALID', 'the secret client is closed', this.options.secret);
    if (this.held) return this.held;
    this.issuing ??= this.issue().finally(() => (this.issuing = null));
    const first = await this.issuing;
    if (!this.held) {
      this.held = first;
      this.options.onEvent?.({ kind: 'issued', leaseId: first.leaseId, expiresAt: first.expiresAt });
      this.schedule();
    }
    return this.held;
  }

  /** Credentials issued before the current one whose leases have not ended: newest first. */
  previous(): HeldLease[] {
    const now = this.now();
    this.older = this.older.filter((l) => (l.hardEndAt ?? l.expiresAt) > now && l.expiresAt > now);
    return [...this.older];
  }

  status(): LeaseStatus {
    return {
      current: this.held && withoutPassword(this.held),
      previous: this.previous().map(withoutPassword),
      reissues: this.reissues,
      renewals: this.renewals,
      revoked: [...this.revoked],
      nextStep: this.next,
    };
  }

  /** Stops renewing and revokes every lease this holder still has; the first failure is thrown after all were tried. */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    if (this.timer) clearTimeout(this.timer);
    for (const t of this.revokeTimers) clearTimeout(t);
    this.revokeTimers.clear();
    this.next = null;
    await this.issuing?.catch(() => undefined);
    await this.step;
    const leases = [...(this.held ? [this.held] : []), ...this.older];
    this.held = null;
    this.older = [];
    const failures: unknown[] = [];
    for (const l of leases) {
      try {
        await this.revoke(l);
      } catch (err) {
        failures.push(err);
      }
    }
    if (failures.length > 0) throw failures[0];
  }

  private async issue(): Promise<HeldLease> {
    const engine = await this.options.engine();
    const { mount, role } = this.options;
    this.maxTtlSec ??= await engine.roleMaxTtl(mount, role).catch(() => null);
    const before = this.now();
    const c = await engine.issue(mount, role);
    if (this.closed) {
      // Closed while the engine answered: nobody will use or revoke it otherwise.
      await engine.revoke(c.leaseId).catch(() => undefined);
      throw new RotatorError('CONFIG_INVALID', 'the secret client is closed', this.options.secret);
    }
    const durationMs = c.leaseDurationSec * 1000;
    return {
      leaseId: c.leaseId,
      username: c.username,
      password: c.password,
      issuedAt: before,
      expiresAt: before + durationMs,
      hardEndAt: this.maxTtlSec ? before + this.maxTtlSec * 1000 : null,
      initialDurationMs: durationMs,
      lastDurationMs: durationMs,
      renewals: 0,
      capped: !c.renewable,
    };
  }

  private schedule(at?: { at: number; kind: 'renew' | 'reissue' }): void {
    if (this.closed || !this.held) return;
    if (this.timer) clearTimeout(this.timer);
    this.next = at ?? nextStep(this.held, this.options.lease);
    // setTimeout holds at most 2^31-1 ms; a later step is looked at again then (act re-checks the time).
    const wait = Math.min(MAX_TIMER_MS, Math.max(0, this.next.at - this.now()));
    this.timer = setTimeout(() => {
      this.timer = null;
      this.step = this.step.then(() => this.act()).catch(() => undefined);
    }, wait);
    this.timer.unref();
  }

  private async act(): Promise<void> {
    const held = this.held;
    const next = this.next;
    if (this.closed || !held || !next) return;
    if (next.at > this.now()) return this.schedule(next);
    if (next.kind === 'renew') await this.renew(held);
    else await this.reissue(held);
  }

  private async renew(held: HeldLease): Promise<void> {
    const lease = this.options.lease;
    try {
      const engine = await this.options.engine();
      const asked = this.now();
      const r = await engine.renew(held.leaseId, lease.increment_seconds);
      held.lastDurationMs = r.leaseDurationSec * 1000;
      held.expiresAt = asked + held.lastDurationMs;
      held.capped = r.capped;
      held.renewals += 1;
      this.renewals += 1;
      this.options.onEvent?.({ kind: 'renewed', leaseId: held.leaseId, expiresAt: held.expiresAt, capped: r.capped });
      this.schedule();
    } catch (err) {
      const code = err instanceof RotatorError ? err.code : 'TRANSIENT';
      this.options.onEvent?.({ kind: 'failed', leaseId: held.leaseId, step: 'renew', code });
      // Gone (expired, revoked by someone): only a new credential helps. An outage: try again soon, and re-issue
      // in time if it lasts (nextStep times the re-issue from the lease's end once renewals fail).
      if (code === 'NOT_FOUND') return this.reissue(held);
      const retry = this.now() + Math.min(lease.min_renewal_seconds * 1000, Math.max(500, (held.expiresAt - this.now()) / 4));
      const reissue = reissueAt(held, lease, false);
      this.schedule(retry < reissue ? { at: retry, kind: 'renew' } : { at: reissue, kind: 'reissue' });
    }
  }

  private async reissue(old: HeldLease): Promise<void> {
    const lease = this.options.lease;
    let fresh: HeldLease;
    try {
      fresh = await this.issue();
    } catch (err) {
      if (this.closed) return;
      const code = err instanceof RotatorError ? err.code : 'TRANSIENT';
      this.options.onEvent?.({ kind: 'failed', leaseId: null, step: 'issue', code });
      // The current credential stays; try again after min_renewal_seconds, or sooner if its lease ends first.
      const left = old.expiresAt - this.now();
      const wait = Math.max(500, Math.min(lease.min_renewal_seconds * 1000, left / 4));
      return this.schedule({ at: this.now() + wait, kind: 'reissue' });
    }
    this.held = fresh;
    this.older.unshift(old);
    this.reissues += 1;
    this.options.onEvent?.({
      kind: 'reissued',
      leaseId: fresh.leaseId,
      previousLeaseId: old.leaseId,
      expiresAt: fresh.expiresAt,
    });
    if (lease.grace_period > 0) {
      const t = setTimeout(() => {
        this.revokeTimers.delete(t);
        this.step = this.step
          .then(async () => {
            if (this.closed) return;
            await this.revoke(old);
            this.older = this.older.filter((l) => l !== old);
          })
          .catch(() => undefined);
      }, lease.grace_period);
      t.unref();
      this.revokeTimers.add(t);
    }
    this.schedule();
  }

  private async revoke(l: HeldLease): Promise<void> {
    const attempts = this.options.lease.revoke_attempts;
    let last: unknown;
    for (let i = 0; i < attempts; i++) {
      try {
        await (await this.options.engine()).revoke(l.leaseId);
        this.revoked.push(l.leaseId);
        this.options.onEvent?.({ kind: 'revoked', leaseId: l.leaseId });
        return;
      } catch (err) {
        last = err;
        if (!(err instanceof RotatorError) || err.code !== 'TRANSIENT') break;
      }
    }
    const code = last instanceof RotatorError ? last.code : 'TRANSIENT';
    this.options.onEvent?.({ kind: 'failed', leaseId: l.leaseId, step: 'revoke', code });
    throw last;
  }
}

/** The next thing to do for the current lease: renew it, or issue the one that replaces it. */
export function nextStep(held: HeldLease, lease: LeaseConfig): { at: number; kind: 'renew' | 'reissue' } {
  const renewing = lease.renewal_enabled && !held.capped;
  const reissue = reissueAt(held, lease, renewing);
  if (renewing) {
    const grantedAt = held.expiresAt - held.lastDurationMs;
    const at = Math.min(grantedAt + lease.renew_at * held.lastDurationMs, held.expiresAt - MIN_LEAD_MS / 2);
    if (at < reissue) return { at, kind: 'renew' };
  }
  return { at: reissue, kind: 'reissue' };
}

/**
 * When to issue the next credential: early enough that the issue and the grace period end before the lease does.
 * Renewals carry a lease to its hard end (max_ttl); without them it ends at `expiresAt`.
 */
function reissueAt(held: HeldLease, lease: LeaseConfig, renewing: boolean): number {
  const lead = Math.max(MIN_LEAD_MS, (1 - lease.renew_at) * held.initialDurationMs);
  const end = renewing ? (held.hardEndAt ?? Infinity) : held.expiresAt;
  return end - lease.grace_period - lead;
}
