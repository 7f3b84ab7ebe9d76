// A worker's Prometheus metrics: rotations, phases and in-flight from the workflows' rotation events; leases, the
// sweep and rollouts measured around their activities; the Temporal SDK's own (Core's exporter) appended on scrape.
// Labels are names and outcomes only, never a value.
import { Counter, Gauge, Histogram, Registry } from 'prom-client';
import type { Info as ActivityInfo } from '@temporalio/activity';
import { ApplicationFailure, CancelledFailure } from '@temporalio/common';
import { collectProcessMetrics } from './default-metrics';
import type {
  ActivityExecuteInput,
  ActivityInboundCallsInterceptor,
  ActivityInterceptorsFactory,
  Next,
} from '@temporalio/worker';
import type { RotationEvent } from '../kernel/events';
import type { LifecycleActivities } from '../../activities/lifecycle';
import type { KeeperActivities } from '../../activities/lease-keeper';
import type { ReconnectActivities } from '../../activities/reconnect';
import { coreMetricsText, reserveLoopbackAddress } from './core-metrics';

/** The activities a worker runs whose calls may be measured, by name. */
type Activities = KeeperActivities & LifecycleActivities & ReconnectActivities;
type ActivityFn = (...args: never[]) => Promise<unknown>;
/** One call of activity K: its arguments, how it ended (its result when it returned), and when. */
interface Call<K extends keyof Activities> {
  args: Activities[K] extends ActivityFn ? Partial<Parameters<Activities[K]>> : never;
  result:
    | { ok: true; value: Activities[K] extends ActivityFn ? Awaited<ReturnType<Activities[K]>> : never }
    | { ok: false; final: boolean };
  startedMs: number;
  now: number;
}
type Measure<K extends keyof Activities> = (call: Call<K>) => void;
/** What is measured, declared per activity (its entries are the measured ones; any other passes through). */
type Measurements = { [K in keyof Activities]?: Measure<K> };

/** Seconds: a phase takes from milliseconds (publish) to days (revoke waits out the grace period). */
const PHASE_BUCKETS = [
  0.05,
  0.1,
  0.25,
  0.5,
  1,
  2.5,
  5,
  10,
  30,
  60,
  120,
  300,
  600,
  1800,
  3600,
  4 * 3600,
  24 * 3600,
  7 * 24 * 3600,
];
/** Seconds: a batch of workloads rolls out in seconds to many minutes. */
const ROLLOUT_BUCKETS = [1, 2.5, 5, 10, 20, 30, 60, 120, 300, 600, 1200, 1800, 3600];

/** `cli:alice`, `schedule:…`, `trigger:…` → `cli`, `schedule`, `trigger`: the kind, not who (bounded labels). */
export function triggerKind(trigger: string | null): string {
  if (!trigger) return 'unknown';
  const kind = trigger.split(':')[0];
  return /^[a-z][a-z0-9_-]{0,31}$/.test(kind) ? kind : 'other';
}

export class WorkerMetrics {
  readonly registry = new Registry();
  /** Where the Runtime's own Prometheus exporter listens (loopback), once the worker installed it so. */
  private coreAddress: string | null = null;
  private readonly inFlight = new Set<string>();
  /** Per secret, the lease this worker last issued or renewed. */
  private readonly leases = new Map<string, { expiresAt: number; capped: boolean }>();

  private readonly rotationsStarted = new Counter({
    name: 'rotator_rotations_started_total',
    help: 'Rotations started, by what started them (cli, schedule, trigger, …).',
    labelNames: ['trigger'] as const,
    registers: [this.registry],
  });
  private readonly rotations = new Counter({
    name: 'rotator_rotations_total',
    help: 'Rotations ended, by outcome (succeeded, rolled-back, rollback-incomplete, revoke-incomplete, failed) and trigger.',
    labelNames: ['outcome', 'trigger'] as const,
    registers: [this.registry],
  });
  private readonly phases = new Histogram({
    name: 'rotator_phase_duration_seconds',
    help: 'How long each phase of a rotation took, by phase and result (completed, failed).',
    labelNames: ['phase', 'result'] as const,
    buckets: PHASE_BUCKETS,
    registers: [this.registry],
  });
  private readonly approvals = new Counter({
    name: 'rotator_approvals_total',
    help: 'Approval decisions on rotations: requested, granted, rejected, timed-out.',
    labelNames: ['result'] as const,
    registers: [this.registry],
  });
  private readonly rollouts = new Histogram({
    name: 'rotator_rollout_duration_seconds',
    help: 'From restarting a batch of workloads until it rolled out (or the wait failed), by result.',
    labelNames: ['result'] as const,
    buckets: ROLLOUT_BUCKETS,
    registers: [this.registry],
  });
  private readonly leaseIssues = new Counter({
    name: 'rotator_lease_issues_total',
    help: 'Leased credentials issued by lease keepers on this worker, by result (issued, failed).',
    labelNames: ['result'] as const,
    registers: [this.registry],
  });
  private readonly leaseRenewals = new Counter({
    name: 'rotator_lease_renewals_total',
    help: 'Lease renewals, by result: renewed, capped (the engine granted less: near max_ttl), failed.',
    labelNames: ['result'] as const,
    registers: [this.registry],
  });
  private readonly leaseRevocations = new Counter({
    name: 'rotator_lease_revocations_total',
    help: 'Replaced leases revoked, by result (revoked, failed).',
    labelNames: ['result'] as const,
    registers: [this.registry],
  });
  private readonly irrevocable = new Counter({
    name: 'rotator_leases_irrevocable_total',
    help: 'Leases whose revoke failed for good on this worker (its last attempt threw, or a non-retryable error); an attempt that timed out or whose worker died is not seen here, the keeper lists those too.',
    registers: [this.registry],
  });
  private readonly sweeps = new Counter({
    name: 'rotator_sweeps_total',
    help: 'Sweep assessments run on this worker, by result (succeeded, failed).',
    labelNames: ['result'] as const,
    registers: [this.registry],
  });
  private readonly sweepSecrets = new Gauge({
    name: 'rotator_sweep_secrets',
    help: "Secrets by state (ok, due, overdue, failing, needs-human) in this worker's last sweep.",
    labelNames: ['state'] as const,
    registers: [this.registry],
  });
  private readonly sweepDue = new Gauge({
    name: 'rotator_sweep_due_secrets',
    help: "Secrets this worker's last sweep found due for rotation now.",
    registers: [this.registry],
  });
  private readonly sweepLast = new Gauge({
    name: 'rotator_sweep_last_success_timestamp_seconds',
    help: 'When a sweep last assessed the secrets on this worker (unix seconds).',
    registers: [this.registry],
  });

  constructor() {
    collectProcessMetrics(this.registry);
    const inFlight: Gauge = new Gauge({
      name: 'rotator_rotations_in_flight',
      help:
        'Rotations this worker saw start and not yet end. Per worker: it sees the events of the steps it ran, so a ' +
        'rotation whose end another worker ran stays counted here until this worker restarts; sum over workers.',
      registers: [this.registry],
      collect: () => inFlight.set(this.inFlight.size),
    });
    const kept: Gauge = new Gauge({
      name: 'rotator_leases_kept',
      help: 'Leased credentials whose last issue or renewal ran on this worker and that have not expired.',
      registers: [this.registry],
      collect: () => kept.set(this.leaseCount(() => true)),
    });
    const expiring: Gauge = new Gauge({
      name: 'rotator_leases_expiring',
      help: 'Of rotator_leases_kept, those that cannot be renewed further (capped at max_ttl): the keeper must replace them.',
      registers: [this.registry],
      collect: () => expiring.set(this.leaseCount((l) => l.capped)),
    });
    const expiry: Gauge<'secret'> = new Gauge({
      name: 'rotator_lease_expiry_timestamp_seconds',
      help: 'When the lease of each secret kept from this worker ends unless renewed (unix seconds).',
      labelNames: ['secret'] as const,
      registers: [this.registry],
      collect: () => {
        expiry.reset();
        const now = Date.now();
        for (const [secret, lease] of this.leases) if (lease.expiresAt > now) expiry.set({ secret }, lease.expiresAt / 1000);
      },
    });
  }

  /** Metrics plus a loopback address reserved for the Temporal Runtime's own exporter. */
  static async create(): Promise<WorkerMetrics> {
    const metrics = new WorkerMetrics();
    metrics.reservedCoreAddress = await reserveLoopbackAddress();
    return metrics;
  }

  /** The address the worker should bind Core's Prometheus exporter to (null: no SDK metrics wanted). */
  reservedCoreAddress: string | null = null;

  /** The worker installed the Runtime with Core's exporter at `address`: scrapes append what it serves. */
  attachCore(address: string): void {
    this.coreAddress = address;
  }

  /** A RotationEvents listener. */
  readonly onEvent = (event: RotationEvent): void => {
    const trigger = triggerKind(event.trigger);
    switch (event.kind) {
      case 'rotation.started':
        this.rotationsStarted.inc({ trigger });
        this.inFlight.add(event.workflowId);
        return;
      case 'rotation.ended':
        this.rotations.inc({ outcome: event.outcome ?? 'unknown', trigger });
        this.inFlight.delete(event.workflowId);
        return;
      case 'phase.completed':
      case 'phase.failed':
        this.phases.observe(
          { phase: event.phase ?? 'unknown', result: event.kind === 'phase.completed' ? 'completed' : 'failed' },
          (event.durationMs ?? 0) / 1000,
        );
        return;
      case 'approval.requested':
      case 'approval.granted':
      case 'approval.rejected':
      case 'approval.timed-out':
        this.approvals.inc({ result: event.kind.slice('approval.'.length) });
        return;
      default:
        return;
    }
  };

  /** For the worker's `interceptors.activity`: measures the lease, sweep and rollout activities around their calls. */
  readonly activityInterceptor: ActivityInterceptorsFactory = (ctx) => ({
    inbound: new ActivityMeasurements(ctx.info, this),
  });

  /** The text a scrape returns: this registry, then the SDK's metrics. */
  async scrape(): Promise<string> {
    const own = await this.registry.metrics();
    if (!this.coreAddress) return own;
    return `${own}\n${await coreMetricsText(this.coreAddress)}`;
  }

  get contentType(): string {
    return this.registry.contentType;
  }

  /**
   * What each measured activity records, keyed and typed by the activity's own signature (its arguments and result),
   * so a renamed activity or a changed result fails to compile here rather than measuring nothing.
   */
  private readonly measurements: Measurements = {
    awaitRollout: ({ args: [, input], result, startedMs, now }) => {
      const from = typeof input?.startedAt === 'number' ? input.startedAt : startedMs;
      this.rollouts.observe({ result: result.ok ? 'succeeded' : 'failed' }, Math.max(0, now - from) / 1000);
    },
    issueCredential: ({ args: [secret], result }) => {
      this.leaseIssues.inc({ result: result.ok ? 'issued' : 'failed' });
      if (result.ok && secret) this.leases.set(secret, { expiresAt: result.value.expiresAt, capped: !result.value.renewable });
    },
    renewLease: ({ args: [secret, input], result, now }) => {
      // An old lease renewed for its grace period is not the secret's lease: neither counted nor followed.
      if (input?.old) return;
      if (!result.ok) return void this.leaseRenewals.inc({ result: 'failed' });
      const renewed = result.value;
      this.leaseRenewals.inc({ result: renewed.capped ? 'capped' : 'renewed' });
      if (secret) this.leases.set(secret, { expiresAt: now + renewed.leaseDurationSec * 1000, capped: renewed.capped });
    },
    revokeLease: ({ result }) => {
      this.leaseRevocations.inc({ result: result.ok ? 'revoked' : 'failed' });
      // The keeper gives a lease up as irrevocable when its revoke activity fails for good; this counts the failures that
      // end by a throw on this worker (an attempt that timed out or whose worker died is seen only by the keeper).
      if (!result.ok && result.final) this.irrevocable.inc();
    },
    assessSecrets: ({ result, now }) => {
      this.sweeps.inc({ result: result.ok ? 'succeeded' : 'failed' });
      if (!result.ok) return;
      const assessment = result.value;
      for (const [state, count] of Object.entries(assessment.counts)) this.sweepSecrets.set({ state }, count);
      this.sweepDue.set(assessment.due.length);
      this.sweepLast.set(now / 1000);
    },
  };

  /** Whether `activity`'s calls are measured; the others pass through untouched. */
  measures(activity: string): boolean {
    return Object.hasOwn(this.measurements, activity);
  }

  /**
   * @internal Called by ActivityMeasurements with what Temporal handed the activity: `args` and the result are the
   * activity's own (the worker registered it under that name), the one place they are taken as such.
   */
  measured(
    activity: string,
    args: unknown[],
    result: { ok: true; value: unknown } | { ok: false; final: boolean },
    startedMs: number,
  ): void {
    const measure = this.measurements[activity as keyof Activities] as Measure<keyof Activities> | undefined;
    measure?.({ args: args as never, result: result as never, startedMs, now: Date.now() });
  }

  private leaseCount(which: (lease: { expiresAt: number; capped: boolean }) => boolean): number {
    const now = Date.now();
    let n = 0;
    for (const lease of this.leases.values()) if (lease.expiresAt > now && which(lease)) n++;
    return n;
  }
}

/**
 * Whether a failed attempt is the activity's last: the server will not retry it (its retry policy's last attempt, a
 * non-retryable error), so the workflow sees the failure. A cancellation is no failure of the step.
 */
export function failsForGood(err: unknown, info: Pick<ActivityInfo, 'attempt' | 'retryPolicy'>): boolean {
  if (err instanceof CancelledFailure) return false;
  if (err instanceof ApplicationFailure && err.nonRetryable) return true;
  const policy = info.retryPolicy;
  if (policy?.maximumAttempts && info.attempt >= policy.maximumAttempts) return true;
  const type = err instanceof ApplicationFailure ? err.type : err instanceof Error ? err.name : undefined;
  return !!type && (policy?.nonRetryableErrorTypes ?? []).includes(type);
}

class ActivityMeasurements implements ActivityInboundCallsInterceptor {
  constructor(
    private readonly info: ActivityInfo,
    private readonly metrics: WorkerMetrics,
  ) {}

  async execute(input: ActivityExecuteInput, next: Next<ActivityInboundCallsInterceptor, 'execute'>): Promise<unknown> {
    const activity = this.info.activityType;
    if (!this.metrics.measures(activity)) return next(input);
    const started = Date.now();
    let value: unknown;
    try {
      value = await next(input);
    } catch (err) {
      this.metrics.measured(activity, input.args, { ok: false, final: failsForGood(err, this.info) }, started);
      throw err;
    }
    this.metrics.measured(activity, input.args, { ok: true, value }, started);
    return value;
  }
}
