// Shared bench plumbing: config for N secrets on a local stack, the bare-activity rotation, stats and a pool runner.
import { randomBytes, randomUUID } from 'node:crypto';
import { MockActivityEnvironment } from '@temporalio/testing';
import vault from 'node-vault';
import { Client as PgClient } from 'pg';
import { createActivities, type RotationActivities } from '../../activities/rotation';
import { parseConfig } from '../../src/config/load';
import type { Config } from '../../src/config/schema';
import type { RotationPlan } from '../../src/kernel/plan';
import type { LocalStack } from '../../src/stack/local-stack';
import { postgresAdminSecret, rotatorYaml, silentLogger, vaultProviderYaml } from '../support/rotator-config';

export const ADMIN_SECRET = 'pg_admin';

/** Secret names per group, e.g. b_0000 … for the baseline and w_0000 … for the workflow run; roles are unique per run. */
export function secretNames(prefix: string, count: number): string[] {
  return Array.from({ length: count }, (_, i) => `${prefix}_${String(i).padStart(4, '0')}`);
}

/** One config holding every bench secret: alternating-users, no grace, no reconnect wait, short drain. */
export function benchConfig(stack: LocalStack, taskQueue: string, names: string[], adminPath: string): Config {
  const run = randomBytes(3).toString('hex');
  const yaml = rotatorYaml({
    temporalAddress: stack.temporal!.address,
    taskQueue,
    provider: { name: 'vault', yaml: vaultProviderYaml(stack.vault!.address, 'BENCH_VAULT_TOKEN') },
    admin: { name: ADMIN_SECRET, path: `secret/data/${adminPath}` },
    secrets: names.map((n) => ({
      name: n,
      path: `secret/data/bench/${n}`,
      type: 'postgresql',
      target: [`role: bench_${run}_${n}`],
      rotation: ['strategy: alternating-users', 'grace_period: 0s', 'reconnect: { wait: 0s }', 'drain: { timeout: 1s }'],
    })),
  });
  return parseConfig(yaml, { BENCH_VAULT_TOKEN: stack.vault!.token });
}

/** The admin credential the activities manage roles with: the stack's superuser, stored in Vault like production. */
export async function seedAdmin(stack: LocalStack, adminPath: string): Promise<void> {
  const client = vault({ apiVersion: 'v1', endpoint: stack.vault!.address, token: stack.vault!.token });
  await client.write(`secret/data/${adminPath}`, { data: postgresAdminSecret(stack.postgres!) });
}

/** Samples the number of client backends every 100 ms until stopped; returns the peak. */
export function watchPgConnections(stack: LocalStack): { stop(): Promise<number> } {
  const pg = stack.postgres!;
  const client = new PgClient({ host: pg.host, port: pg.port, user: pg.user, password: pg.password, database: pg.database });
  client.on('error', () => undefined);
  let peak = 0;
  let done = false;
  const loop = (async () => {
    await client.connect();
    while (!done) {
      const r = await client.query("select count(*)::int as n from pg_stat_activity where backend_type = 'client backend'");
      peak = Math.max(peak, (r.rows[0] as { n: number }).n);
      await new Promise((res) => setTimeout(res, 100));
    }
    await client.end();
  })().catch((err: unknown) => {
    // A sampler that lost its connection (a machine so loaded PostgreSQL drops it) ends the sampling, not the bench.
    process.stderr.write(`bench: pg connection sampling stopped: ${(err as Error).message}\n`);
  });
  return {
    async stop() {
      done = true;
      await loop.catch(() => undefined);
      return peak;
    },
  };
}

export { silentLogger };

export type StepTimings = Record<string, number>;

/**
 * The activity sequence rotateSecret runs for alternating-users on the happy path, called directly: the same provider
 * calls, minus Temporal. Every call goes through a MockActivityEnvironment because notifyConsumers and waitForDrain
 * read Context.current(); it only supplies a context (logger, heartbeat sink), no server.
 */
export async function bareRotation(acts: RotationActivities, plan: RotationPlan, steps?: StepTimings): Promise<void> {
  const env = new MockActivityEnvironment(undefined, { logger: silentLogger });
  const rotationId = randomUUID();
  const timed = async <T>(name: string, fn: () => Promise<T>): Promise<T> => {
    const t = performance.now();
    try {
      // run()'s generics cannot infer the result type from F, so restate it.
      return (await env.run(fn)) as T;
    } finally {
      if (steps) steps[name] = (steps[name] ?? 0) + (performance.now() - t);
    }
  };
  const found = await timed('inspect', () => acts.inspect(plan, { rotationId }));
  await timed('stageCredential', () =>
    acts.stageCredential(plan, { rotationId, username: found.nextUsername, baseVersion: found.currentVersion }),
  );
  await timed('applyCredential', () => acts.applyCredential(plan, { rotationId }));
  // The workflow checks the new login before publishing, then again as published: both count here too.
  await timed('verifyPending', () => acts.verifyCredential(plan, { rotationId }));
  const published = await timed('promote', () => acts.promote(plan, { rotationId, expectedVersion: found.currentVersion }));
  await timed('notifyConsumers', () => acts.notifyConsumers(plan, { version: published.version, username: found.nextUsername }));
  await timed('verifyCredential', () => acts.verifyCredential(plan, { rotationId, version: published.version }));
  const old = found.revokeUsername;
  if (old) {
    // grace_period is 0 in the bench, so the workflow sleeps no timer here either.
    const { remaining } = await timed('waitForDrain', () => acts.waitForDrain(plan, { username: old, timeoutMs: 0 }));
    await timed('revokeLogin', () =>
      acts.revokeLogin(plan, {
        rotationId,
        username: old,
        terminateSessions: remaining > 0 && plan.drain.onTimeout === 'terminate',
      }),
    );
  }
  await timed('discardPending', () => acts.discardPending(plan, { rotationId }));
}

export { createActivities };

/** Runs `fn` over `items` with at most `concurrency` in flight; returns per-item latency (ms) and wall time (ms). */
export async function runPool<T>(
  items: T[],
  concurrency: number,
  fn: (item: T) => Promise<void>,
): Promise<{ latencies: number[]; wallMs: number }> {
  const latencies: number[] = [];
  let next = 0;
  const t0 = performance.now();
  const lane = async (): Promise<void> => {
    while (next < items.length) {
      const item = items[next++];
      const t = performance.now();
      await fn(item);
      latencies.push(performance.now() - t);
    }
  };
  await Promise.all(Array.from({ length: Math.min(concurrency, items.length) }, lane));
  return { latencies, wallMs: performance.now() - t0 };
}

export interface Summary {
  p50: number;
  p95: number;
  max: number;
  perSecond: number;
}

/** Nearest-rank percentiles: with 200 samples p95 is the 190th, no interpolation to argue about. */
export function summarize({ latencies, wallMs }: { latencies: number[]; wallMs: number }): Summary {
  const s = [...latencies].sort((a, b) => a - b);
  const rank = (p: number) => s[Math.max(0, Math.ceil((p / 100) * s.length) - 1)];
  return { p50: rank(50), p95: rank(95), max: s[s.length - 1], perSecond: (latencies.length / wallMs) * 1000 };
}

export function parseFlags(argv: string[], defaults: Record<string, number>): Record<string, number> {
  const out = { ...defaults };
  for (let i = 0; i < argv.length; i++) {
    const m = /^--([a-z-]+)(?:=(.*))?$/.exec(argv[i]);
    if (!m || !(m[1] in defaults))
      throw new Error(
        `unknown argument ${argv[i]}; expected ${Object.keys(defaults)
          .map((k) => `--${k} N`)
          .join(' ')}`,
      );
    const raw = m[2] ?? argv[++i];
    const n = Number(raw);
    if (!Number.isInteger(n) || n < 1) throw new Error(`--${m[1]} expects a positive integer, got ${JSON.stringify(raw)}`);
    out[m[1]] = n;
  }
  return out;
}

/** Runs a bench's `main` as the process: exit 0 when it ends, 1 with the error logged when it fails. */
export function runBench(main: () => Promise<void>, log: (line: string) => void): void {
  main().then(
    () => process.exit(0),
    (err: unknown) => {
      log(`FAILED: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}`);
      process.exit(1);
    },
  );
}
