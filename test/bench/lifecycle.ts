// npm run bench, lifecycle section: leases kept alive by one worker process, the sweep over many secrets, schedule
// sync; each against the bare provider calls measured in the same run.
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { randomBytes } from 'node:crypto';
import { Client } from '@temporalio/client';
import { msToTs, optionalTsToMs } from '@temporalio/common/lib/time';
import { temporal } from '@temporalio/proto';
import { bundleWorkflowCode, DefaultLogger, NativeConnection, Runtime, Worker } from '@temporalio/worker';
import vault from 'node-vault';
import { VaultDatabaseEngine } from '../../activities/stores/vault/public';
import { getDataConverter } from '../../src/client/codec/data-converter';
import { applyScheduleSync, planScheduleSync } from '../../src/client/schedules';
import { ensureKeepers } from '../../src/client/lease-keepers';
import { parseConfig } from '../../src/config/load';
import { startLocalStack, type LocalStack } from '../../src/stack/local-stack';
import { keeperIdFor, keeperStatusQuery, SWEEP, type KeeperState, type SweepReport } from '../../workflows/lifecycle-definitions';
import { WORKFLOWS_PATH } from '../../workers/worker';
import { readTrace, spawnFaultyWorker, writeBundle } from '../support/fault-injection';
import { postgresAdminSecret } from '../support/rotator-config';
import { parseFlags, runPool, silentLogger, runBench } from './common';
import type { FloorActivities } from './floor-workflow';
import { eventMs } from './history-cost';
import { connectTemporal } from '../../src/client/temporal';

const log = (line: string) => process.stderr.write(`bench: ${line}\n`);
const CLOCK_TICKS = 100; // USER_HZ on Linux: /proc/<pid>/stat counts CPU time in these

function cpuSecondsOf(pid: number): number {
  const fields = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]!.split(' ');
  return (Number(fields[11]) + Number(fields[12])) / CLOCK_TICKS; // utime, stime
}
function rssMiBOf(pid: number, field: 'VmRSS' | 'VmHWM'): number {
  const m = new RegExp(`${field}:\\s+(\\d+) kB`).exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
  return m ? Number(m[1]) / 1024 : NaN;
}

async function main(): Promise<void> {
  // --lease-counts 1000,2000,5000,10000: the curve (a list, so not one of parseFlags' numbers); --leases N: one count.
  const argv = process.argv.slice(2);
  const at = argv.findIndex((a) => a.startsWith('--lease-counts'));
  const listed = at < 0 ? null : argv[at]!.includes('=') ? argv[at]!.split('=')[1]! : argv[at + 1]!;
  if (at >= 0) argv.splice(at, argv[at]!.includes('=') ? 1 : 2);
  const flags = parseFlags(argv, {
    leases: 0,
    'lease-ttl': 100, // s per 1,000 leases: every count renews 1,000 / (100 s × renew_at) = 15 leases a second
    'lease-run': 240,
    secrets: 10000,
    schedules: 1000,
    cache: 0, // the worker's workflow cache (temporal.max_cached_workflows); 0: the worker's default
    // The lease worker's V8 heap (--max-old-space-size, MiB), as docs/configuration.md advises for a worker given 1 GiB;
    // Node's default is sized from the machine's memory (about 4 GiB here) and lets garbage pile up past 1 GiB.
    heap: 512,
    'cpu-prof': 0, // 1: the lease worker writes a V8 CPU profile (--cpu-prof) into a directory it names
    'skip-sweep': 0, // 1: leases only
    // Workflows of the keeper floor (see floorKeeper), each a cycle every 10 s: 20 cycles a second.
    'floor-keepers': 200,
    // keepers.rate.starts a second, as `rotator schedule sync` paces the keepers it starts (0: no delays).
    'start-rate': 5,
  });
  const counts = flags.leases ? [flags.leases] : (listed ?? '1000,2000,5000,10000').split(',').map(Number);
  if (counts.some((c) => !Number.isInteger(c) || c < 1))
    throw new Error(`--lease-counts expects positive integers separated by commas, got ${JSON.stringify(listed)}`);
  const stack = await startLocalStack({ services: ['temporal', 'vault', 'postgres', 'redis'], log });
  // SIGINT's default kills us before 'exit' hooks run; stop the servers ourselves so no postmaster is left behind.
  const onSignal = (sig: NodeJS.Signals) => {
    log(`${sig}: stopping the stack`);
    // The lease worker is a process of its own: left running, it would poll a stopped server for ever.
    for (const w of liveWorkers) w.child.kill('SIGKILL');
    void stack.stop().finally(() => process.exit(130));
  };
  process.once('SIGINT', onSignal).once('SIGTERM', onSignal);
  const dir = mkdtempSync(join(tmpdir(), 'rotator-bench-'));
  const out: string[] = [];
  try {
    const bundle = await bundleWorkflowCode({ workflowsPath: WORKFLOWS_PATH, logger: silentLogger });
    const bundleFile = writeBundle(dir, bundle.code);
    const connection = await connectTemporal({ address: stack.temporal!.address });
    // Payloads encrypted as in production: the codec is part of what a worker pays per task.
    const keys = { activeKeyId: 'bench', keys: new Map([['bench', randomBytes(32)]]) };
    process.env.ROTATOR_CODEC_KEY = `bench:${keys.keys.get('bench')!.toString('base64')}`;
    const client = new Client({ connection, dataConverter: getDataConverter(keys) });
    try {
      const floor = await keeperFloor(stack, client, flags['floor-keepers']!);
      out.push(...(await leases(stack, client, bundleFile, dir, flags, counts, floor)));
      if (!flags['skip-sweep']) {
        out.push(...(await sweep(stack, client, bundleFile, dir, flags.secrets!)));
        out.push(...(await schedules(stack, client, flags.schedules!)));
      }
    } finally {
      await connection.close();
    }
  } finally {
    await stack.stop();
  }
  process.stdout.write(out.join('\n') + '\n');
}

function header(stack: LocalStack, taskQueue: string, cache?: number): string[] {
  return [
    'temporal:',
    `  address: "${stack.temporal!.address}"`,
    `  task_queue: ${taskQueue}`,
    ...(cache ? [`  max_cached_workflows: ${cache}`] : []),
    'providers:',
    '  bao:',
    '    type: vault',
    `    address: "${stack.vault!.address}"`,
    '    token: ${BENCH_VAULT_TOKEN}',
    'secrets:',
  ];
}

/** The config's keepers: block for `rate` starts a second (0: as good as all at once). */
function keepersRate(rate: number): string[] {
  return ['keepers:', `  rate: { starts: ${rate || 10_000}, per: 1s }`];
}

async function vaultPut(stack: LocalStack, path: string, body: unknown): Promise<void> {
  const res = await fetch(`${stack.vault!.address}/v1/${path}`, {
    method: 'POST',
    headers: { 'X-Vault-Token': stack.vault!.token },
    body: JSON.stringify(body),
  });
  if (!res.ok) throw new Error(`vault ${path}: ${res.status} ${await res.text()}`);
}

/** What issue 24 holds a worker keeping leases to: RSS, leases lost, CPU per renewal against the bare renew call. */
const LEASE_GOALS = { rssMiB: 1024, lost: 0, cpuRatio: 5 };

interface LeaseRow {
  n: number;
  ttl: number;
  issued: number;
  issueSec: number;
  renewals: number;
  /** Renewals that ended inside the CPU window (the CPU per renewal is per these). */
  windowRenewals: number;
  reissues: number;
  lost: number;
  dead: number;
  peakRssMiB: number;
  cpuMsPerRenewal: number;
  bareCpuMsPerRenew: number;
  lateP50: number | null;
  lateP99: number | null;
  lateSamples: number;
  load: string;
  limit: string | null;
  /** For a few keepers that lost a lease: how the run that found it gone went (see traceLost). */
  lostTraces: string[];
}

/** Nearest-rank percentile of `xs` (sorted here). */
function percentile(xs: number[], p: number): number | null {
  if (xs.length === 0) return null;
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.max(0, Math.ceil((p / 100) * s.length) - 1)]!;
}

/** Worker processes this bench started and has not stopped yet (killed on SIGINT with the stack). */
const liveWorkers = new Set<ReturnType<typeof spawnFaultyWorker>>();

const loadAverage = () => readFileSync('/proc/loadavg', 'utf8').split(' ').slice(0, 3).join(' ');

/**
 * Leases kept by one worker process, for each count asked (`--lease-counts 1000,2000,5000,10000`, or `--leases N`):
 * the table issue 24 asks for, each figure beside its goal. The TTL grows with the count (`--lease-ttl` per 1,000
 * leases) so every count renews at the same rate, and the role's max_ttl is far beyond the run, so the steady state is
 * renewals only: CPU per renewal is comparable with the bare renew call measured in the same run.
 */
async function leases(
  stack: LocalStack,
  client: Client,
  bundleFile: string,
  dir: string,
  flags: Record<string, number>,
  counts: number[],
  floor: KeeperFloor,
): Promise<string[]> {
  const rows: LeaseRow[] = [];
  for (const n of counts) {
    const row = await leasesAt(stack, client, bundleFile, dir, flags, n);
    rows.push(row);
    log(`leases ${n}: ${JSON.stringify(row)}`);
    // A count the machine did not hold is the end of the curve: the larger ones would not hold either.
    if (row.limit) break;
  }
  const goal = (ok: boolean) => (ok ? 'ok' : 'MISSED');
  const fmtMs = (x: number | null) => (x === null ? '-' : x < 10_000 ? `${x.toFixed(0)} ms` : `${(x / 1000).toFixed(0)} s`);
  return [
    '',
    `leases: dynamic PostgreSQL leases from OpenBao kept by one worker process (max_cached_workflows ${flags.cache || 'unset: the worker default'}, ` +
      `V8 heap ${flags.heap ? `${flags.heap} MiB` : "Node's default"}), keepers started ` +
      `${flags['start-rate'] ? `${flags['start-rate']} a second (keepers.rate)` : 'without delays, one start after the other'}, ` +
      'steady state of renewals',
    `  | leases | issued (s) | lost | RSS peak MiB (<= ${LEASE_GOALS.rssMiB}) | CPU/renewal ms | bare ms | ratio (<= ${LEASE_GOALS.cpuRatio}x) | lateness p50 / p99 | renewals | load avg |`,
    '  |---|---|---|---|---|---|---|---|---|---|',
    ...rows.map(
      (r) =>
        `  | ${r.n} | ${r.issued}/${r.n} (${r.issueSec.toFixed(0)} s) | ${r.lost + r.dead} ${goal(r.lost + r.dead === LEASE_GOALS.lost)} | ` +
        `${r.peakRssMiB.toFixed(0)} ${goal(r.peakRssMiB <= LEASE_GOALS.rssMiB)} | ${r.cpuMsPerRenewal.toFixed(2)} | ` +
        `${r.bareCpuMsPerRenew.toFixed(2)} | ${(r.cpuMsPerRenewal / r.bareCpuMsPerRenew).toFixed(1)}x ` +
        `${goal(r.cpuMsPerRenewal / r.bareCpuMsPerRenew <= LEASE_GOALS.cpuRatio)} | ${fmtMs(r.lateP50)} / ${fmtMs(r.lateP99)} | ` +
        `${r.windowRenewals} in the CPU window; ${r.renewals} (+${r.reissues} re-issues) between the reads | ${r.load} |`,
    ),
    ...rows.filter((r) => r.limit).map((r) => `  stopped at ${r.n}: ${r.limit}`),
    ...rows.flatMap((r) => r.lostTraces.map((t) => `  lost at ${r.n}: ${t}`)),
    `  the floor: ${floor.keepers} workflows of a renewal run's steps as no-ops (a local activity, a timer, a local ` +
      `activity, continue-as-new), in this bench's own process: ${floor.cpuMsPerCycle.toFixed(2)} ms CPU per cycle ` +
      `(${floor.cycles} cycles), ${(floor.cpuMsPerCycle / rows[0]!.bareCpuMsPerRenew).toFixed(1)}x the bare renew of ` +
      `${rows[0]!.n} leases; the goal allows ${LEASE_GOALS.cpuRatio}x`,
  ];
}

/**
 * How the run went in which a keeper found its lease gone, for up to `max` of `secrets`, from the histories (payloads
 * stay encoded: only event times and kinds are read). A renewal run starts, reads its config, sleeps on a timer until
 * the renewal is due and renews; one whose timer never fired ran its first task only once the renewal was due.
 */
async function traceLost(client: Client, secrets: string[], max = 3): Promise<string[]> {
  const T = temporal.api.enums.v1.EventType;
  const traces: string[] = [];
  for (const secret of secrets.slice(0, max)) {
    const workflowId = keeperIdFor(secret);
    let traced = 0;
    for await (const run of client.workflow.list({ query: `WorkflowId = "${workflowId}"` })) {
      if (traced === max) break;
      const events = (await client.workflow.getHandle(workflowId, run.runId).fetchHistory()).events ?? [];
      const failed = events.find(
        (e) =>
          e.eventType === T.EVENT_TYPE_MARKER_RECORDED &&
          e.markerRecordedEventAttributes?.markerName === 'core_local_activity' &&
          e.markerRecordedEventAttributes.failure,
      );
      if (!failed) continue;
      traced += 1;
      // A first run paced by keepers.rate waits its start delay on purpose: counted from its end.
      const backoff = events[0]!.workflowExecutionStartedEventAttributes?.firstWorkflowTaskBackoff;
      const start = eventMs(events[0]!) + (optionalTsToMs(backoff) ?? 0);
      const firstTask = events.find((e) => e.eventType === T.EVENT_TYPE_WORKFLOW_TASK_STARTED);
      const fired = events.some((e) => e.eventType === T.EVENT_TYPE_TIMER_FIRED);
      const s = (ms: number) => `${(ms / 1000).toFixed(1)} s`;
      traces.push(
        `${secret}: in run ${run.runId}, a local activity failed ${s(eventMs(failed) - start)} after the run started; its ` +
          `first task started after ${firstTask ? s(eventMs(firstTask) - start) : '(none)'}; ${fired ? 'a' : 'no'} timer fired`,
      );
    }
  }
  return traces;
}

/** Ends the bench's workflows, whatever state they are in (one already closed is left as it is). */
async function terminateAll(client: Client, workflowIds: string[]): Promise<void> {
  await runPool(workflowIds, 32, (id) =>
    client.workflow
      .getHandle(id)
      .terminate('bench over')
      .then(
        () => undefined,
        () => undefined,
      ),
  );
}

interface KeeperFloor {
  keepers: number;
  cycles: number;
  cpuMsPerCycle: number;
}

/**
 * What a keeper's renewal costs a worker before the renewal does anything: `keepers` workflows of floorKeeper
 * (test/bench/floor-workflow.ts) on a worker in this process, with the codec, spread over one interval; the process's
 * CPU over a steady minute, per cycle.
 */
async function keeperFloor(stack: LocalStack, client: Client, keepers: number): Promise<KeeperFloor> {
  const taskQueue = `bench-floor-${randomBytes(3).toString('hex')}`;
  const intervalMs = 10_000;
  let noops = 0;
  const activities: FloorActivities = { noop: async () => void noops++ };
  Runtime.install({ logger: new DefaultLogger('WARN') }); // the only worker in this process
  const workflowBundle = await bundleWorkflowCode({ workflowsPath: require.resolve('./floor-workflow'), logger: silentLogger });
  const ids = Array.from({ length: keepers }, (_, i) => `floor-keeper-${taskQueue}-${i}`);
  const connection = await NativeConnection.connect({ address: stack.temporal!.address });
  try {
    const worker = await Worker.create({
      connection,
      taskQueue,
      workflowBundle,
      activities,
      dataConverter: client.options.dataConverter,
    });
    return await worker.runUntil(async () => {
      await runPool(
        ids.map((workflowId, i) => ({ workflowId, offsetMs: 1 + Math.floor((i * intervalMs) / keepers) })),
        32,
        async ({ workflowId, offsetMs }) => {
          await client.workflow.start('floorKeeper', { taskQueue, workflowId, args: [{ intervalMs, offsetMs }] });
        },
      );
      // Past the first wake of every keeper: a steady state of cycles.
      await new Promise((r) => setTimeout(r, 2 * intervalMs));
      const cpu0 = process.cpuUsage();
      const noops0 = noops;
      await new Promise((r) => setTimeout(r, 6 * intervalMs));
      const cpu = process.cpuUsage(cpu0);
      const counted = Math.round((noops - noops0) / 2); // two no-ops a cycle
      log(`keeper floor: ${counted} cycles of ${keepers} keepers`);
      return { keepers, cycles: counted, cpuMsPerCycle: (cpu.user + cpu.system) / 1000 / Math.max(1, counted) };
    });
  } finally {
    await terminateAll(client, ids);
    await connection.close();
  }
}

async function leasesAt(
  stack: LocalStack,
  client: Client,
  bundleFile: string,
  dir: string,
  flags: Record<string, number>,
  n: number,
): Promise<LeaseRow> {
  const ttl = Math.max(flags['lease-ttl']!, Math.round((flags['lease-ttl']! * n) / 1000));
  const renewAt = 2 / 3;
  // Long enough for every lease to come up for renewal at least once (more with --lease-run).
  const runSec = Math.max(flags['lease-run']!, Math.ceil(ttl * renewAt * 1.25));
  const role = `bench_${randomBytes(3).toString('hex')}`;
  const db = stack.vaultDatabase!;
  await vaultPut(stack, `${db.mount}/roles/${role}`, {
    db_name: db.postgresConnection,
    creation_statements: `CREATE ROLE "{{name}}" WITH LOGIN PASSWORD '{{password}}' VALID UNTIL '{{expiration}}';`,
    revocation_statements: `DROP ROLE IF EXISTS "{{name}}";`,
    default_ttl: `${ttl}s`,
    max_ttl: '24h',
  });
  const engine = new VaultDatabaseEngine({ address: stack.vault!.address, token: stack.vault!.token });

  // Bare: issue N leases, renew each once, CPU per renewal in this process; revoke them.
  const bareIds: string[] = [];
  await runPool(
    Array.from({ length: n }, (_, i) => i),
    32,
    async () => void bareIds.push((await engine.issue(db.mount, role)).leaseId),
  );
  const cpu0 = process.cpuUsage();
  const bare = await runPool(bareIds, 32, async (id) => void (await engine.renew(id, ttl)));
  const bareCpu = process.cpuUsage(cpu0);
  const bareCpuMsPerRenew = (bareCpu.user + bareCpu.system) / 1000 / n;
  await runPool(bareIds, 32, (id) => engine.revoke(id));
  log(`bare: ${n} renewals in ${(bare.wallMs / 1000).toFixed(1)} s, ${bareCpuMsPerRenew.toFixed(2)} ms CPU each`);

  const taskQueue = `bench-keep-${randomBytes(3).toString('hex')}`;
  const names = Array.from({ length: n }, (_, i) => `lease_${String(i).padStart(5, '0')}`);
  const yaml = [
    ...keepersRate(flags['start-rate']!),
    ...header(stack, taskQueue, flags.cache),
    ...names.flatMap((name) => [
      `  ${name}:`,
      '    provider: bao',
      `    path: ${db.mount}/creds/${role}`,
      '    type: dynamic',
      `    publish: { provider: bao, path: secret/data/bench-leases/${taskQueue}/${name} }`,
      `    lease: { increment_seconds: ${ttl}, min_renewal_seconds: 1, renew_at: ${renewAt.toFixed(4)}, grace_period: 5s }`,
    ]),
  ].join('\n');
  const configFile = join(dir, `leases-${n}.yaml`);
  writeFileSync(configFile, yaml, { mode: 0o600 });
  const profDir = flags['cpu-prof'] ? mkdtempSync(join(tmpdir(), 'rotator-prof-')) : null;
  // Every step's end, timed: the renewals counted against the worker's CPU are those that ended inside its window.
  const traceFile = join(dir, `leases-${n}.trace`);
  const worker = spawnFaultyWorker({
    configFile,
    bundleFile,
    traceFile,
    env: {
      BENCH_VAULT_TOKEN: stack.vault!.token,
      NODE_OPTIONS: [
        process.env.NODE_OPTIONS ?? '',
        ...(flags.heap ? [`--max-old-space-size=${flags.heap}`] : []),
        ...(profDir ? [`--cpu-prof --cpu-prof-dir=${profDir}`] : []),
      ].join(' '),
    },
  });
  liveWorkers.add(worker);
  const pid = worker.child.pid!;
  let peakRss = 0;
  const sampler = setInterval(() => {
    try {
      peakRss = Math.max(peakRss, rssMiBOf(pid, 'VmRSS'));
    } catch {
      // gone: the row says so
    }
  }, 2000);
  try {
    const t0 = Date.now();
    // As `rotator schedule sync` starts them: one after the other, each first task spaced by keepers.rate.
    const { started } = await ensureKeepers(client, parseConfig(yaml, { BENCH_VAULT_TOKEN: stack.vault!.token }));
    if (started.length !== n) throw new Error(`${n - started.length} of ${n} keepers were running already`);
    const states = async () => {
      const all: KeeperState[] = [];
      const ask = async (s: string, unanswered: string[]) => {
        // A keeper no worker has picked up yet cannot answer: it counts as not issued. Bounded, so an overloaded
        // server ends the row (as "did not answer") instead of holding the bench.
        const state = await client.connection
          .withDeadline(Date.now() + 15_000, () => client.workflow.getHandle(keeperIdFor(s)).query(keeperStatusQuery))
          .catch(() => null);
        if (state) all.push(state);
        else unanswered.push(s);
      };
      const unanswered: string[] = [];
      await runPool(names, 32, (s) => ask(s, unanswered));
      // Asked once more (a keeper between two runs answers once its next run has begun), as bounded as the first pass.
      await runPool(unanswered, 32, (s) => ask(s, []));
      return all;
    };
    // Issuing is watched at the store, not by querying every keeper (the queries would cost the worker CPU).
    const kv = vault({ apiVersion: 'v1', endpoint: stack.vault!.address, token: stack.vault!.token });
    const published = async () => {
      const listed = (await kv.list(`secret/metadata/bench-leases/${taskQueue}`).catch(() => null)) as {
        data: { keys: string[] };
      } | null;
      return listed?.data.keys.length ?? 0;
    };
    const issueLimit = Math.max(600, flags['start-rate'] ? (1.5 * n) / flags['start-rate'] : n / 5);
    let issued = 0;
    while ((issued = await published()) < n) {
      if (Date.now() - t0 > issueLimit * 1000) break;
      await new Promise((r) => setTimeout(r, 2000));
    }
    const issueSec = (Date.now() - t0) / 1000;
    log(`keepers: ${issued}/${n} issued and published in ${issueSec.toFixed(0)} s`);
    const before = await states();
    // Steady state from here: renewals only (max_ttl is far away). The queries above and below are not counted.
    const windowFrom = Date.now();
    const cpuStart = cpuSecondsOf(pid);
    await new Promise((r) => setTimeout(r, runSec * 1000));
    const cpu = cpuSecondsOf(pid) - cpuStart;
    const windowTo = Date.now();
    // The reads of every keeper's state before and after the window take minutes at 5,000 (each query may replay a
    // keeper): renewals made during them are in the states' counts, but not their CPU. So CPU per renewal counts the
    // renewals and issues that ended inside the CPU window, from the worker's trace.
    const ended = readTrace(traceFile).filter((e) => e.event === 'end' && e.t >= windowFrom && e.t <= windowTo);
    const windowRenewals = ended.filter((e) => e.activity === 'renewLease').length;
    const windowIssues = ended.filter((e) => e.activity === 'issueCredential').length;
    const load = loadAverage();
    const after = await states();
    const beforeBy = new Map(before.map((s) => [s.secret, s]));
    let renewals = 0;
    let reissues = 0;
    const late: number[] = [];
    for (const s of after) {
      const b = beforeBy.get(s.secret);
      renewals += (s.renewed ?? 0) - (b?.renewed ?? 0);
      reissues += s.generation - (b?.generation ?? 0);
      // Lateness of the steady state's renewals only: a keeper keeps its last few.
      const newer = Math.min((s.renewed ?? 0) - (b?.renewed ?? 0), s.renewLateMs?.length ?? 0);
      if (newer > 0) late.push(...s.renewLateMs!.slice(-newer));
    }
    const lost = after.reduce((a, s) => a + (s.lost ?? 0), 0);
    const lostTraces = await traceLost(
      client,
      after.filter((s) => s.lost > 0).map((s) => s.secret),
    );
    const alive = after.filter((s) => s.current).map((s) => s.current!.leaseId);
    let dead = 0;
    await runPool(alive, 32, async (id) => void ((await engine.lookup(id)) === null && dead++));
    const cpuMsPerRenewal = (cpu * 1000) / Math.max(1, windowRenewals + windowIssues);
    const missing = n - after.length;
    const limit =
      issued < n
        ? `only ${issued}/${n} issued within ${issueLimit} s`
        : missing > 0
          ? `${missing} keepers did not answer a query`
          : renewals < n * 0.9
            ? `only ${renewals} renewals where each of ${n} leases was due at least once`
            : null;
    return {
      n,
      ttl,
      issued,
      issueSec,
      renewals,
      windowRenewals,
      reissues,
      lost,
      dead,
      peakRssMiB: peakRss,
      cpuMsPerRenewal,
      bareCpuMsPerRenew,
      lateP50: percentile(late, 50),
      lateP99: percentile(late, 99),
      lateSamples: late.length,
      load,
      limit,
      lostTraces,
    };
  } finally {
    clearInterval(sampler);
    await terminateAll(client, names.map(keeperIdFor));
    await worker.stop();
    liveWorkers.delete(worker);
    await engine.close();
    if (profDir) log(`worker CPU profile: ${profDir}`);
  }
}

/** The sweep over N configured secrets of which 1% are due (they have no current version yet). */
async function sweep(stack: LocalStack, client: Client, bundleFile: string, dir: string, n: number): Promise<string[]> {
  const taskQueue = `bench-sweep-${randomBytes(3).toString('hex')}`;
  const run = randomBytes(3).toString('hex');
  const names = Array.from({ length: n }, (_, i) => `s_${String(i).padStart(5, '0')}`);
  const due = new Set(names.filter((_, i) => i % 100 === 0));
  const adminPath = `secret/data/bench-sweep/admin_${run}`;
  await vaultPut(stack, adminPath, { data: postgresAdminSecret(stack.postgres!) });
  const yaml = [
    ...header(stack, taskQueue),
    '  pg_admin:',
    '    provider: bao',
    `    path: ${adminPath}`,
    ...names.flatMap((name) => [
      `  ${name}:`,
      '    provider: bao',
      `    path: secret/data/bench-sweep/${run}/${name}`,
      `    target: { type: postgresql, connection: secret://pg_admin, role: sw_${run}_${name} }`,
      '    rotation: { strategy: alternating-users, max_age: 30d, drain: { timeout: 1s } }',
    ]),
    'sweep:',
    '  max_concurrent: 20',
    '  rate: { starts: 60, per: 1s }',
  ].join('\n');
  // The 99% written just now: within max_age. The 1% never written: overdue.
  await runPool(
    names.filter((s) => !due.has(s)),
    64,
    (s) =>
      vaultPut(stack, `secret/data/bench-sweep/${run}/${s}`, {
        data: { username: `sw_${run}_${s}_a`, password: 'x'.repeat(16) },
      }),
  );
  const configFile = join(dir, 'sweep.yaml');
  writeFileSync(configFile, yaml, { mode: 0o600 });
  parseConfig(yaml, { BENCH_VAULT_TOKEN: stack.vault!.token }); // fail here, not in the worker, if it is wrong

  // Bare: what the assessment reads, one metadata read per secret, 32 in flight (the sweep's own concurrency).
  const kv = vault({ apiVersion: 'v1', endpoint: stack.vault!.address, token: stack.vault!.token });
  const bare = await runPool(names, 32, async (s) => {
    await kv.read(`secret/metadata/bench-sweep/${run}/${s}`).catch(() => undefined);
  });
  const worker = spawnFaultyWorker({ configFile, bundleFile, env: { BENCH_VAULT_TOKEN: stack.vault!.token } });
  liveWorkers.add(worker);
  try {
    const t0 = performance.now();
    const report = (await client.workflow.execute(SWEEP, {
      taskQueue,
      workflowId: `bench-sweep-${run}`,
      args: [],
    })) as SweepReport;
    const wallMs = performance.now() - t0;
    // report.at is the workflow's clock when the assessment came back; the first start follows it.
    const started = new Set(report.started.map((s) => s.secret));
    const exact = started.size === due.size && [...due].every((s) => started.has(s));
    const ok = report.started.filter((s) => s.outcome === 'succeeded').length;
    const at = report.started.map((s) => s.at);
    let rateOk = true;
    for (let i = 60; i < at.length; i++) if (at[i]! - at[i - 60]! < 1000) rateOk = false;
    return [
      '',
      `sweep: ${n} configured secrets, ${due.size} due (1%)`,
      `  wall time ${(wallMs / 1000).toFixed(1)} s (goal <= 30 s) for ${report.assessed} secrets assessed and the due ones rotated; bare metadata reads of all ${n}: ${(bare.wallMs / 1000).toFixed(1)} s`,
      `  rotations started: ${report.started.length} (${exact ? 'exactly the due ones' : 'NOT exactly the due ones'}), ${ok} succeeded; peak concurrent ${report.peakConcurrent} (cap 20); rate cap 60/s ${rateOk ? 'respected' : 'NOT respected'}`,
      `  sweep/bare: ${(wallMs / bare.wallMs).toFixed(1)}x`,
    ];
  } finally {
    await worker.stop();
    liveWorkers.delete(worker);
  }
}

/** Syncing N Schedules from config, then again with nothing changed; bare: the same creates made directly. */
async function schedules(stack: LocalStack, client: Client, n: number): Promise<string[]> {
  const ns = `bench-${randomBytes(3).toString('hex')}`;
  await client.workflowService.registerNamespace({ namespace: ns, workflowExecutionRetentionPeriod: msToTs('1d') });
  const nsClient = new Client({ connection: client.connection, namespace: ns, dataConverter: client.options.dataConverter });
  const lines = [
    'temporal:',
    `  address: "${stack.temporal!.address}"`,
    `  namespace: ${ns}`,
    '  task_queue: bench-schedules',
    'providers: { bao: { type: vault, address: "http://127.0.0.1:1", token: xxxxxxxxxxxx } }',
    'secrets:',
    '  pg_admin: { provider: bao, path: secret/data/admin }',
    ...Array.from({ length: n }, (_, i) => [
      `  sch_${String(i).padStart(5, '0')}:`,
      `    provider: bao`,
      `    path: secret/data/sch/${i}`,
      `    target: { type: postgresql, connection: secret://pg_admin, role: sch_${i} }`,
      `    rotation: { strategy: alternating-users, schedule: { every: 1h, jitter: 5m } }`,
    ]).flat(),
  ];
  const config = parseConfig(lines.join('\n'), {});
  // The first call in a fresh namespace waits for it to be ready.
  for (let i = 0; ; i++) {
    try {
      await planScheduleSync(nsClient, config);
      break;
    } catch (err) {
      if (i > 50) throw err;
      await new Promise((r) => setTimeout(r, 200));
    }
  }
  let t = performance.now();
  await applyScheduleSync(nsClient, config, await planScheduleSync(nsClient, config));
  const createMs = performance.now() - t;
  // Visibility lags creates a little: the no-op run is timed once the listing shows them all.
  for (let i = 0; (await planScheduleSync(nsClient, config)).create.length > 0 && i < 100; i++)
    await new Promise((r) => setTimeout(r, 200));
  t = performance.now();
  const again = await applyScheduleSync(nsClient, config, await planScheduleSync(nsClient, config));
  const noopMs = performance.now() - t;
  // Bare: the same number of Schedule creates, 8 in flight like sync.
  const bareNs = new Client({ connection: client.connection, namespace: ns });
  const bare = await runPool(
    Array.from({ length: n }, (_, i) => i),
    8,
    async (i) =>
      void (await bareNs.schedule.create({
        scheduleId: `bare/${i}`,
        spec: { intervals: [{ every: '1h' }] },
        action: { type: 'startWorkflow', workflowType: 'x', taskQueue: 'bench-schedules', args: [] },
      })),
  );
  return [
    '',
    `schedule sync: ${n} Schedules`,
    `  first sync (create all): ${(createMs / 1000).toFixed(1)} s; bare creates: ${(bare.wallMs / 1000).toFixed(1)} s (${(createMs / bare.wallMs).toFixed(2)}x)`,
    `  second sync, nothing changed: ${(noopMs / 1000).toFixed(2)} s (${again.create.length + again.update.length + again.delete.length} changes)`,
  ];
}

runBench(main, log);
