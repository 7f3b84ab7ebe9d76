// `rotator plan SECRET`: what a rotation of the secret needs, checked without changing anything — the store, the admin
// credential and its rights on the target, the consumers, the schedule. Each plugin checks its own part (`preflight`).
import type { PreflightCheck } from '../../activities/plugin';
import { consumerPlugin } from '../../activities/consumers';
import { ConsumerRegistry, ProviderRegistry } from '../../activities/registry';
import { storePlugin } from '../../activities/stores';
import { targetPlugin } from '../../activities/targets';
import { endpointDisagreement, storedEndpoint } from '../../activities/targets/endpoint';
import type { SecretStore, SecretValue, Versioned } from '../../activities/types';
import { cronProblem } from '../config/cron';
import type { ScheduleConfig } from '../config/lifecycle';
import { readerBound, written } from '../config/readers';
import { configWarnings } from '../config/warnings';
import type { Config } from '../config/schema';
import { formatDuration } from '../kernel/duration';
import { RotatorError } from '../kernel/errors';
import { planRotation, rotatableSecrets, type RotationPlan } from '../config/plan';
import { redact } from '../kernel/redact';

export type { PreflightCheck } from '../../activities/plugin';

export interface PreflightReport {
  secret: string;
  /** False when any check is a ✗ (a ⚠ alone leaves it true). */
  ok: boolean;
  checks: PreflightCheck[];
}

/** Fields of a stored credential that say where and who, not how (an access key's id is not secret): everything else is scrubbed from the report. */
const DESCRIPTIVE = new Set(['username', 'host', 'port', 'dbname', 'engine', 'AccessKeyId']);

function secretValuesOf(value: SecretValue | undefined): string[] {
  return Object.entries(value ?? {})
    .filter(([field, v]) => !DESCRIPTIVE.has(field) && typeof v === 'string')
    .map(([, v]) => v as string);
}

function messageOf(err: unknown): string {
  return err instanceof RotatorError ? err.message : ((err as Error)?.message ?? String(err)).split('\n')[0];
}

/** Whatever a plugin's check threw, as a ✗ of its own: one broken part does not hide the others. */
async function guarded(check: string, fix: string, run: () => Promise<PreflightCheck[]>): Promise<PreflightCheck[]> {
  try {
    return await run();
  } catch (err) {
    return [{ check, status: 'fail', detail: messageOf(err), fix }];
  }
}

/** Runs every check for `secretName`; a config that cannot make a plan throws CONFIG_INVALID as `validate` does. */
export async function preflight(config: Config, secretName: string): Promise<PreflightReport> {
  const plan = planRotation(config, secretName);
  const providers = new ProviderRegistry(config.providers);
  const consumers = new ConsumerRegistry({ providers });
  const scrub: string[] = [];
  try {
    const checks: PreflightCheck[] = [];
    const { checks: storeChecks, current } = await storePreflight(config, plan, providers);
    checks.push(...storeChecks);
    scrub.push(...secretValuesOf(current?.value));
    const admin = await adminCredential(plan, providers);
    checks.push(admin.check);
    if (admin.value) {
      scrub.push(...secretValuesOf(admin.value));
      const plugin = targetPlugin(plan.target);
      const value = admin.value;
      if (current) checks.push(...(await endpointCheck(plan, value, current.value)));
      if (plugin.preflight) {
        checks.push(
          ...(await guarded(`${plan.target.type}: admin`, 'check the target block and the admin secret', () =>
            plugin.preflight!(plan.target as never, {
              strategy: plan.strategy,
              login: plan.login,
              admin: value,
            }),
          )),
        );
      }
    }
    for (const consumer of plan.consumers ?? []) {
      const plugin = consumerPlugin(consumer);
      if (!plugin.preflight) continue;
      checks.push(
        ...(await guarded(`${consumer.type}: reachable`, 'check the consumer block', () =>
          plugin.preflight!(consumer, consumers),
        )),
      );
    }
    checks.push(...(await unlistedUsers(config, secretName)));
    checks.push(...readerChecks(config, secretName));
    const schedule = config.secrets[secretName].rotation?.schedule;
    if (schedule) checks.push(...scheduleChecks(schedule));
    const clean = checks.map((c) => ({
      ...c,
      detail: redact(c.detail, scrub),
      ...(c.fix !== undefined ? { fix: redact(c.fix, scrub) } : {}),
    }));
    return { secret: secretName, ok: clean.every((c) => c.status !== 'fail'), checks: clean };
  } finally {
    await consumers.close().catch(() => undefined);
    await providers.close().catch(() => undefined);
  }
}

const ENDPOINT_CHECK = 'store: the stored endpoint is the target’s';

/**
 * ⚠ when the stored value's host or port differ from the target's connection, naming both. Not a ✗: an app may
 * reach the database another way (a pooler, a replica, a private name); a rotation keeps the stored ones and its
 * verify logs in through them, so the operator decides which is right.
 */
async function endpointCheck(plan: RotationPlan, admin: SecretValue, stored: SecretValue): Promise<PreflightCheck[]> {
  const plugin = targetPlugin(plan.target);
  if (!plugin.connectionEndpoint) return [];
  const connection = await plugin.connectionEndpoint(plan.target as never, admin).catch(() => null);
  if (!connection) return []; // the admin check above reports an unusable admin credential
  const disagreement = endpointDisagreement(stored, connection);
  if (disagreement === null) {
    const named = storedEndpoint(stored);
    return [
      {
        check: ENDPOINT_CHECK,
        status: 'ok',
        detail: named.host
          ? `the stored value names ${named.host}:${named.port ?? connection.port}, where the target connects`
          : `the stored value names no host: verify logs in at ${connection.host}:${connection.port}`,
      },
    ];
  }
  return [
    {
      check: ENDPOINT_CHECK,
      status: 'warn',
      detail: `${disagreement}; a rotation keeps the stored ones (consumers use them) and verifies through them`,
      fix: `if consumers should reach ${connection.host}:${connection.port}, correct host/port in the stored value; rotator never rewrites them`,
    },
  ];
}

/** How long `validate` waits for the stores to compare endpoints: a store it cannot reach by then is `plan`'s to report. */
export const ENDPOINT_READ_MS = 3_000;

/**
 * The readers' caches against the grace period: `plan` refuses a shorter grace_period before this runs
 * (refuseShortGrace) unless allow_short_grace says so, and then it is a warning here, as in `validate`.
 */
function readerChecks(config: Config, secretName: string): PreflightCheck[] {
  const check = 'readers: revoke waits out their caches';
  const warnings = configWarnings(config, secretName);
  if (warnings.length > 0)
    return warnings.map((w) => ({
      check,
      status: 'warn',
      detail: w.message,
      fix: "lengthen grace_period, or shorten the readers' caches",
    }));
  const secret = config.secrets[secretName];
  const bound = readerBound(secret);
  return [
    {
      check,
      status: 'ok',
      detail: bound
        ? `grace_period ${written(secret.rotation!.grace_period)} ≥ ${bound.field} ${written(bound.ms)}`
        : 'no reader cache declared (cache.ttl, refresh_interval, rotation.readers.max_staleness)',
    },
  ];
}

/**
 * For `validate`: secrets whose stored value names another host or port than their target's connection, read online
 * from the stores, all at once and for at most ENDPOINT_READ_MS. A secret whose store or admin credential did not
 * answer in time or could not be read is listed in `skipped` (validate says so; `rotator plan` reports why).
 */
export async function endpointWarnings(
  config: Config,
): Promise<{ warnings: Array<{ secret: string; message: string }>; skipped: string[] }> {
  const providers = new ProviderRegistry(config.providers);
  const one = async (secret: string): Promise<string[]> => {
    const plan = planRotation(config, secret);
    const current = await (await providers.store(plan.store.provider)).readCurrent(plan.store.path);
    const ref = plan.target.connection;
    if (!ref) return [];
    const admin = current ? await (await providers.store(ref.provider)).readCurrent(ref.path) : null;
    if (!current || !admin) return [];
    return (await endpointCheck(plan, admin.value, current.value)).filter((c) => c.status === 'warn').map((c) => c.detail);
  };
  let timer: NodeJS.Timeout | undefined;
  const deadline = new Promise<null>((resolve) => {
    timer = setTimeout(() => resolve(null), ENDPOINT_READ_MS);
    timer.unref();
  });
  try {
    const secrets = rotatableSecrets(config);
    const found = await Promise.all(secrets.map((secret) => Promise.race([one(secret).catch(() => null), deadline])));
    return {
      warnings: secrets.flatMap((secret, i) => (found[i] ?? []).map((message) => ({ secret, message }))),
      skipped: secrets.filter((_, i) => found[i] === null),
    };
  } finally {
    clearTimeout(timer);
    await providers.close().catch(() => undefined);
  }
}

/** What `validate` warns about, for this secret: workloads that read its Kubernetes Secret but are not its consumers. */
async function unlistedUsers(config: Config, secretName: string): Promise<PreflightCheck[]> {
  const entry = config.secrets[secretName];
  const block = config.providers[entry.provider] as { type: string } & Record<string, unknown>;
  if (!storePlugin(block).kubernetesSecret) return [];
  const { unlistedConsumers } = await import('./consumer-check');
  const warnings = await unlistedConsumers({ ...config, secrets: { [secretName]: entry } });
  const check = 'consumers: every user of the Secret is listed';
  if (warnings.length === 0) return [{ check, status: 'ok', detail: 'no other workload reads it' }];
  return warnings.map((w) => ({
    check,
    status: 'warn',
    detail: w.message,
    fix: 'add it to consumers: (type: rollout), or restart it yourself after each rotation',
  }));
}

/** The store opens and reads; it can be written (its own preflight, or ⚠ when it cannot tell); no rotation holds it. */
async function storePreflight(
  config: Config,
  plan: RotationPlan,
  providers: ProviderRegistry,
): Promise<{ checks: PreflightCheck[]; current: Versioned<SecretValue> | null }> {
  const { provider, path } = plan.store;
  const where = `${provider}:${path}`;
  const read = `store: read ${where}`;
  const checks: PreflightCheck[] = [];
  let store: SecretStore | null = null;
  let current: Versioned<SecretValue> | null = null;
  try {
    store = await providers.store(provider);
    current = await store.readCurrent(path);
    if (current) checks.push({ check: read, status: 'ok', detail: `version ${current.version} is current` });
    else if (plan.strategy === 'alternating-users' || plan.strategy === 'issued')
      checks.push({ check: read, status: 'ok', detail: 'no value yet: the first rotation publishes version 1' });
    else
      checks.push({
        check: read,
        status: 'fail',
        detail: `${plan.strategy} needs the login's current credential in the store (a failed rotation puts it back)`,
        fix: `write the current credential of ${plan.login} to ${where}`,
      });
  } catch (err) {
    // Reported, and the write check still runs: it often says why (a missing right, a file in the way).
    checks.push({ check: read, status: 'fail', detail: messageOf(err), fix: `check provider ${provider} and its credentials` });
  }
  const block = config.providers[provider] as { type: string } & Record<string, unknown>;
  const plugin = storePlugin(block);
  const write = `store: may write ${path}`;
  if (!plugin.capabilities.writable) {
    checks.push({
      check: write,
      status: 'fail',
      detail: `the ${block.type} store is read-only: rotation publishes each new credential in the store`,
      fix: 'keep the secret in a writable store (vault, kubernetes, aws-secrets-manager, file, …)',
    });
  } else if (plugin.preflight) {
    checks.push(...(await guarded(write, `check provider ${provider}`, () => plugin.preflight!(block, path))));
  } else {
    checks.push({
      check: write,
      status: 'warn',
      detail: `not checked: the ${block.type} store offers no way to test a write without writing`,
      fix: 'make sure the worker’s identity may write the secret and its pending slot (see docs/stores.md for the store)',
    });
  }
  const holder = `store: no rotation holds ${path}`;
  if (!store) return { checks, current };
  try {
    const other = await store.otherPending(path, 'rotator-plan');
    checks.push(
      other === null
        ? { check: holder, status: 'ok', detail: 'no pending value' }
        : {
            check: holder,
            status: 'fail',
            detail: `a pending value of rotation ${other} is there: another rotation holds the secret`,
            fix: `wait for it to end (rotator status ${plan.secret}); a stale one is handled by the provider's stale_pending`,
          },
    );
  } catch (err) {
    checks.push({ check: holder, status: 'warn', detail: `could not look: ${messageOf(err)}` });
  }
  return { checks, current };
}

async function adminCredential(
  plan: RotationPlan,
  providers: ProviderRegistry,
): Promise<{ check: PreflightCheck; value: SecretValue | null }> {
  const ref = plan.target.connection;
  const check = `${plan.target.type}: admin credential readable`;
  if (!ref) return { check: { check, status: 'ok', detail: 'none needed: the target has no connection' }, value: {} };
  const where = `${ref.provider}:${ref.path}`;
  try {
    const admin = await (await providers.store(ref.provider)).readCurrent(ref.path);
    if (!admin) {
      return {
        check: { check, status: 'fail', detail: `there is no secret at ${where}`, fix: `write the admin credential to ${where}` },
        value: null,
      };
    }
    return { check: { check, status: 'ok', detail: `${where} version ${admin.version}` }, value: admin.value };
  } catch (err) {
    return {
      check: { check, status: 'fail', detail: messageOf(err), fix: `check provider ${ref.provider} and its credentials` },
      value: null,
    };
  }
}

/** Kept here too for callers that knew it as a preflight check. */
export { cronProblem };

export function scheduleChecks(schedule: ScheduleConfig): PreflightCheck[] {
  const check = 'schedule: valid';
  const when = schedule.every !== undefined ? `every ${formatDuration(schedule.every)}` : `cron "${schedule.cron}"`;
  const window = schedule.window
    ? `, starting between ${schedule.window.start} and ${schedule.window.end} ${schedule.window.time_zone}`
    : '';
  const checks: PreflightCheck[] = [];
  const problem = schedule.cron !== undefined ? cronProblem(schedule.cron) : null;
  if (problem === 'unknown')
    checks.push({ check, status: 'warn', detail: `${when}: syntax beyond numbers, ranges, steps and lists is left to Temporal` });
  else if (problem)
    checks.push({
      check,
      status: 'fail',
      detail: `${when}: ${problem}`,
      fix: 'correct rotation.schedule.cron (minute hour day-of-month month day-of-week)',
    });
  else checks.push({ check, status: 'ok', detail: `${when}${window}, up to ${schedule.attempts} attempts per run` });
  if (schedule.paused)
    checks.push({
      check: 'schedule: running',
      status: 'warn',
      detail: 'paused: scheduled rotations do not run',
      fix: 'set rotation.schedule.paused: false and run rotator schedule sync',
    });
  return checks;
}
