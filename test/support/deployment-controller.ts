// THE ONE STAND-IN of the Kubernetes tests: the Deployment controller (and the pods a kubelet would run).
//
// The stack runs a real kube-apiserver and etcd, but no controller manager, scheduler or kubelet, so nothing would
// ever write a Deployment's status. This controller watches Deployments in one namespace, as the real one does, and
// for each new generation writes status through the `status` subresource the way the real controller reports a
// rolling update: first in progress (observedGeneration caught up, new replicas not yet available), then complete
// (updated = ready = available = replicas, Progressing=True/NewReplicaSetAvailable). It can be told to make a
// Deployment's rollout fail (Progressing=False/ProgressDeadlineExceeded, what the real controller sets when
// progressDeadlineSeconds passes) or stall (stay in progress). Everything else — objects, generations,
// resourceVersions, RBAC, conflicts — is the real API server's.
import * as k8s from '@kubernetes/client-node';
import { adminClients } from './kube';

/** `fail-once`: this rollout fails, the next ones complete (a bad version, then a rollback that works). */
export type RolloutBehaviour = 'complete' | 'fail' | 'fail-once' | 'stall';

export interface Rollout {
  deployment: string;
  generation: number;
  /** The restart annotation of the pod template that this generation rolled out. */
  annotations: Record<string, string>;
  /** The API server's resourceVersion (an etcd revision) when the new generation was seen, and when it ended. */
  startedRv: number;
  endedRv: number | null;
  outcome: 'complete' | 'failed' | null;
  endedAt?: number;
}

const MERGE = k8s.setHeaderOptions('Content-Type', k8s.PatchStrategy.MergePatch);

export class DeploymentController {
  readonly rollouts: Rollout[] = [];
  private readonly behaviour = new Map<string, RolloutBehaviour>();
  private readonly handled = new Map<string, number>();
  private readonly waiters: Array<() => void> = [];
  private readonly stalled = new Map<string, () => void>();
  private request: { abort(): void } | undefined;
  private resyncTimer: NodeJS.Timeout | undefined;
  private stopped = false;
  private watchEnds = 0;
  private lastTrouble = '';
  private readonly apps = adminClients().apps;

  /** `stepMs`: how long the simulated pods take to become available (so overlapping rollouts would show). */
  constructor(
    private readonly namespace: string,
    private readonly stepMs = 150,
  ) {}

  /**
   * Lists the namespace's Deployments, then watches them, as an informer does: when the watch ends (the API server
   * may close it at any time) it lists and watches again, and it lists again every second anyway (a resync), so no
   * generation can be missed. `observe` handles each generation once, however often it sees it.
   */
  async start(): Promise<this> {
    await this.resync();
    await this.watch();
    this.resyncTimer = setInterval(() => void this.resync().catch((err: unknown) => this.trouble('resync', err)), 1000);
    this.resyncTimer.unref();
    return this;
  }

  stop(): void {
    this.stopped = true;
    clearInterval(this.resyncTimer);
    this.request?.abort();
  }

  private async resync(): Promise<void> {
    if (this.stopped) return;
    const { items } = await this.apps.listNamespacedDeployment({ namespace: this.namespace });
    for (const d of items) void this.observe(d);
  }

  private async watch(): Promise<void> {
    const { kc } = adminClients();
    this.request = await new k8s.Watch(kc).watch(
      `/apis/apps/v1/namespaces/${this.namespace}/deployments`,
      { allowWatchBookmarks: false },
      (type: string, obj: k8s.V1Deployment) => {
        if (type === 'ADDED' || type === 'MODIFIED') void this.observe(obj);
      },
      (err: unknown) => {
        if (this.stopped) return;
        this.watchEnds++;
        if (err) this.trouble('watch', err);
        void this.resync()
          .then(() => this.watch())
          .catch((e: unknown) => this.trouble('re-watch', e));
      },
    );
  }

  private trouble(what: string, err: unknown): void {
    if (this.stopped) return;
    this.lastTrouble = `${what}: ${(err as Error)?.message?.split('\n')[0] ?? String(err)}`;
    console.error(`deployment controller (${this.namespace}) ${this.lastTrouble}`);
  }

  /** How the next rollouts of `name` go (default: complete). */
  set(name: string, behaviour: RolloutBehaviour): void {
    this.behaviour.set(name, behaviour);
  }

  /** Lets a stalled rollout of `name` go on: it completes, unless `set` said otherwise since. */
  release(name: string, outcome: 'complete' | 'fail' = 'complete'): void {
    this.behaviour.set(name, outcome === 'complete' ? 'complete' : 'fail');
    this.stalled.get(name)?.();
    this.stalled.delete(name);
  }

  rolloutsOf(name: string): Rollout[] {
    return this.rollouts.filter((r) => r.deployment === name);
  }

  /**
   * Resolves once `predicate` holds over the rollouts seen so far (checked after every change). Rejects, naming
   * `what` and every rollout seen, when `during` (say, the rotation) ends first or after `deadlineMs`: a guard that
   * turns a wait for a rollout that will never come into a message.
   */
  until(
    predicate: (rollouts: Rollout[]) => boolean,
    what = 'the rollouts waited for',
    { during, deadlineMs = 120_000 }: { during?: Promise<unknown>; deadlineMs?: number } = {},
  ): Promise<void> {
    if (predicate(this.rollouts)) return Promise.resolve();
    let timer: NodeJS.Timeout | undefined;
    let settled = false;
    return new Promise<void>((resolve, reject) => {
      const fail = (why: string) => {
        if (settled) return;
        settled = true;
        reject(new Error(`deployment controller (${this.namespace}): ${what} not seen, ${why}; ${this.describe()}`));
      };
      timer = setTimeout(() => fail(`${deadlineMs / 1000} s passed`), deadlineMs);
      during?.then(
        () => fail('what it waited during ended first'),
        (err: unknown) => fail(`what it waited during failed first (${(err as Error)?.message ?? String(err)})`),
      );
      const check = () => {
        if (settled) return;
        if (predicate(this.rollouts)) {
          settled = true;
          resolve();
        } else this.waiters.push(check);
      };
      this.waiters.push(check);
    }).finally(() => clearTimeout(timer));
  }

  private describe(): string {
    const seen = this.rollouts.map((r) => `${r.deployment}#${r.generation}:${r.outcome ?? 'in progress'}`);
    const trouble = this.lastTrouble ? `, last trouble ${this.lastTrouble}` : '';
    return `rollouts seen [${seen.join(', ')}], watch ended ${this.watchEnds} times${trouble}`;
  }

  private changed(): void {
    for (const w of this.waiters.splice(0)) w();
  }

  private async observe(d: k8s.V1Deployment): Promise<void> {
    const name = d.metadata!.name!;
    const generation = d.metadata!.generation ?? 0;
    if ((this.handled.get(name) ?? 0) >= generation) return;
    this.handled.set(name, generation);
    const replicas = d.spec?.replicas ?? 1;
    const rollout: Rollout = {
      deployment: name,
      generation,
      annotations: { ...(d.spec?.template?.metadata?.annotations ?? {}) },
      startedRv: Number(d.metadata!.resourceVersion),
      endedRv: null,
      outcome: null,
    };
    this.rollouts.push(rollout);
    this.changed();
    let behaviour = this.behaviour.get(name) ?? 'complete';
    if (behaviour === 'fail-once') {
      this.behaviour.set(name, 'complete');
      behaviour = 'fail';
    }
    // In progress: the controller has seen the generation; one new pod is up but not yet available.
    await this.writeStatus(name, {
      observedGeneration: generation,
      replicas: replicas + 1,
      updatedReplicas: 1,
      readyReplicas: replicas,
      availableReplicas: replicas,
      unavailableReplicas: 1,
      conditions: [
        condition('Available', 'True', 'MinimumReplicasAvailable'),
        condition('Progressing', 'True', 'ReplicaSetUpdated'),
      ],
    });
    if (this.stopped) return;
    // Stalled until released; a release that came while the status above was being written (a test that saw this
    // rollout start may release it at once) has already said how it ends, and nothing would resolve the wait.
    if (behaviour !== 'stall') await new Promise((r) => setTimeout(r, this.stepMs));
    else if (this.behaviour.get(name) === 'stall') await new Promise<void>((r) => this.stalled.set(name, r));
    if ((this.handled.get(name) ?? 0) !== generation || this.stopped) return; // a newer generation took over
    if (behaviour === 'stall') behaviour = this.behaviour.get(name) === 'fail' ? 'fail' : 'complete';
    const done =
      behaviour === 'complete'
        ? {
            observedGeneration: generation,
            replicas,
            updatedReplicas: replicas,
            readyReplicas: replicas,
            availableReplicas: replicas,
            unavailableReplicas: 0,
            conditions: [
              condition('Available', 'True', 'MinimumReplicasAvailable'),
              condition('Progressing', 'True', 'NewReplicaSetAvailable'),
            ],
          }
        : {
            observedGeneration: generation,
            replicas: replicas + 1,
            updatedReplicas: 1,
            readyReplicas: replicas,
            availableReplicas: replicas,
            unavailableReplicas: 1,
            conditions: [
              condition('Available', 'True', 'MinimumReplicasAvailable'),
              condition('Progressing', 'False', 'ProgressDeadlineExceeded'),
            ],
          };
    // Before the write: a rotation may see the completed status, and act on it, before this process records it.
    const endedAt = Date.now();
    let written = await this.writeStatus(name, done);
    // A status write the API server refused or dropped is tried again, as the real controller requeues its key.
    for (let retry = 0; written === null && retry < 20 && !this.stopped; retry++) {
      await new Promise((r) => setTimeout(r, 250));
      if ((this.handled.get(name) ?? 0) !== generation) return;
      written = await this.writeStatus(name, done);
    }
    if (written === null) return; // never ended: the rotation's own timeout says so
    rollout.endedAt = endedAt;
    rollout.endedRv = written;
    rollout.outcome = behaviour === 'complete' ? 'complete' : 'failed';
    this.changed();
  }

  private async writeStatus(name: string, status: k8s.V1DeploymentStatus): Promise<number | null> {
    try {
      const d = await this.apps.patchNamespacedDeploymentStatus({ name, namespace: this.namespace, body: { status } }, MERGE);
      return Number(d.metadata?.resourceVersion);
    } catch (err) {
      if (!this.stopped) console.error(`deployment controller: status of ${name}`, (err as Error).message.split('\n')[0]);
      return null;
    }
  }
}

function condition(type: string, status: string, reason: string): k8s.V1DeploymentCondition {
  const now = new Date();
  return { type, status, reason, lastUpdateTime: now, lastTransitionTime: now, message: reason };
}
