// A private stack whose servers a test may stop, freeze and restart: PostgreSQL (a cluster of its own), OpenBao on
// raft storage (init once, unseal after every start: dev mode would lose everything on restart) and a Temporal dev
// server on a db file, each on fixed ports so a restart comes back where clients look. The shared jest stack is not
// touched.
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import * as fs from 'node:fs';
import * as fsp from 'node:fs/promises';
import * as os from 'node:os';
import * as path from 'node:path';
import { Client as PgClient } from 'pg';
import { temporalDevServerArgs, toolPath } from '../../src/stack/local-stack';
// Below the ephemeral range: a server restarted on its port must not find it taken as some connection's source port.
import { freePorts } from '../../src/stack/service';
import { connectTemporal } from '../../src/client/temporal';

const HOST = '127.0.0.1';
const READY_MS = 60_000;

export interface OutageStack {
  dir: string;
  temporal: { address: string };
  vault: { address: string; token: string };
  postgres: { host: string; port: number; user: string; password: string; database: string };
  /** Every value the stack itself holds (tokens, unseal key, passwords): never to be found in output. */
  secrets: string[];
  pg: Restartable & { freeze(): void; thaw(): void };
  bao: Restartable & { freeze(): void; thaw(): void };
  temporalServer: Restartable;
  stop(): Promise<void>;
}

/** A server a test takes down (`down`: a crash, SIGKILL or an immediate stop) and brings back on the same port. */
export interface Restartable {
  down(): Promise<void>;
  up(): Promise<void>;
}

async function until(what: string, probe: () => Promise<void>, timeoutMs = READY_MS): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  let last = '';
  for (;;) {
    try {
      await probe();
      return;
    } catch (err) {
      last = err instanceof Error ? err.message : String(err);
    }
    if (Date.now() > deadline) throw new Error(`${what} not ready after ${timeoutMs} ms: ${last}`);
    await new Promise((r) => setTimeout(r, 100)); // polling a server that is starting
  }
}

function spawnLogged(dir: string, name: string, exe: string, args: string[], env: Record<string, string> = {}): ChildProcess {
  const fd = fs.openSync(path.join(dir, `${name}.log`), 'a', 0o600);
  try {
    const child = spawn(exe, args, { cwd: dir, env: { ...process.env, ...env }, stdio: ['ignore', fd, fd] });
    return child;
  } finally {
    fs.closeSync(fd);
  }
}

function exited(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve();
  return new Promise((resolve) => child.once('exit', () => resolve()));
}

function pgBin(): string {
  const base = '/usr/lib/postgresql';
  const v = fs
    .readdirSync(base)
    .filter((d) => fs.existsSync(path.join(base, d, 'bin', 'initdb')))
    .sort((a, b) => Number(b) - Number(a))[0];
  if (!v) throw new Error('no PostgreSQL under /usr/lib/postgresql');
  return path.join(base, v, 'bin');
}

/** The pids of a process and all its children (the postmaster and its backends). */
function treeOf(pid: number): number[] {
  const out = spawnSync('pgrep', ['-P', String(pid)], { encoding: 'utf8' }).stdout.trim();
  const children = out ? out.split('\n').map(Number) : [];
  return [pid, ...children.flatMap(treeOf)];
}

function signalTree(pid: number, signal: NodeJS.Signals): void {
  for (const p of treeOf(pid)) {
    try {
      process.kill(p, signal);
    } catch {
      // gone meanwhile
    }
  }
}

export async function startOutageStack(): Promise<OutageStack> {
  const dir = await fsp.mkdtemp(path.join(os.tmpdir(), 'rotator-outage-'));
  await fsp.chmod(dir, 0o755);
  const stoppers: Array<() => Promise<void>> = [];
  /** What the exit hook kills when the test process ends without stop(): processes, and the pg data dir to stop. */
  const live = { children: new Set<ChildProcess>(), pgData: null as string | null };
  const onExit = () => {
    for (const c of live.children) c.kill('SIGKILL');
    if (!live.pgData) return;
    const stopArgs = [path.join(pgBin(), 'pg_ctl'), 'stop', '-D', live.pgData, '-m', 'immediate'];
    if (process.getuid?.() === 0) spawnSync('runuser', ['-u', 'postgres', '--', ...stopArgs]);
    else spawnSync(stopArgs[0]!, stopArgs.slice(1));
  };
  process.once('exit', onExit);
  const stop = async () => {
    for (const s of stoppers.reverse()) await s().catch(() => undefined);
    process.removeListener('exit', onExit);
    await fsp.rm(dir, { recursive: true, force: true });
  };
  try {
    return await start(dir, stoppers, live, stop);
  } catch (err) {
    await stop();
    throw err;
  }
}

async function start(
  dir: string,
  stoppers: Array<() => Promise<void>>,
  live: { children: Set<ChildProcess>; pgData: string | null },
  stop: () => Promise<void>,
): Promise<OutageStack> {
  const [pgPort, baoPort, baoCluster, tPort, tHttp, tMetrics] = await freePorts(6);
  const secrets: string[] = [];

  // ---- PostgreSQL: its own cluster, owned by the postgres OS user when we are root (initdb refuses root).
  const bin = pgBin();
  const asRoot = process.getuid?.() === 0;
  const pgDir = path.join(dir, 'pg');
  const data = path.join(pgDir, 'data');
  const pgPassword = randomBytes(24).toString('hex');
  secrets.push(pgPassword);
  await fsp.mkdir(pgDir, { mode: 0o700 });
  const pwfile = path.join(pgDir, 'pwfile');
  await fsp.writeFile(pwfile, pgPassword + '\n', { mode: 0o600 });
  const pgLog = path.join(pgDir, 'postgres.log');
  await fsp.writeFile(pgLog, '', { mode: 0o600 });
  if (asRoot) {
    const line = fs
      .readFileSync('/etc/passwd', 'utf8')
      .split('\n')
      .find((l) => l.startsWith('postgres:'))!;
    const [, , uid, gid] = line.split(':');
    for (const p of [pgDir, pwfile, pgLog]) await fsp.chown(p, Number(uid), Number(gid));
  }
  const pgCmd = (exe: string, args: string[]): [string, string[]] =>
    asRoot ? ['runuser', ['-u', 'postgres', '--', path.join(bin, exe), ...args]] : [path.join(bin, exe), args];
  const runPg = (exe: string, args: string[]): void => {
    const [cmd, argv] = pgCmd(exe, args);
    const r = spawnSync(cmd, argv, { encoding: 'utf8', timeout: 90_000 });
    if (r.status !== 0) throw new Error(`${exe} ${args[0]} failed: ${r.stderr || r.stdout}`);
  };
  runPg('initdb', [
    '-D',
    data,
    '--auth-host=scram-sha-256',
    '--auth-local=trust',
    '--username=postgres',
    `--pwfile=${pwfile}`,
    '--no-sync',
    '--encoding=UTF8',
    '--no-locale',
  ]);
  await fsp.rm(pwfile);
  const pgOpts = [`-p ${pgPort}`, `-k '${pgDir}'`, `-c listen_addresses=${HOST}`, '-c max_connections=200', '-c fsync=off'].join(
    ' ',
  );
  const postgres = { host: HOST, port: pgPort, user: 'postgres', password: pgPassword, database: 'postgres' };
  const pgUp = async () => {
    runPg('pg_ctl', ['start', '-w', '-t', '60', '-D', data, '-l', pgLog, '-o', pgOpts]);
    await until('postgresql', async () => {
      const c = new PgClient({ ...postgres, connectionTimeoutMillis: 2000 });
      c.on('error', () => undefined);
      try {
        await c.connect();
        await c.query('select 1');
      } finally {
        await c.end().catch(() => undefined);
      }
    });
  };
  const postmasterPid = (): number => Number(fs.readFileSync(path.join(data, 'postmaster.pid'), 'utf8').split('\n')[0]);
  live.pgData = data;
  stoppers.push(async () => {
    try {
      signalTree(postmasterPid(), 'SIGCONT');
    } catch {
      // not running
    }
    const [cmd, argv] = pgCmd('pg_ctl', ['stop', '-D', data, '-m', 'immediate', '-w']);
    spawnSync(cmd, argv, { timeout: 30_000 });
  });
  await pgUp();
  const pg = {
    // An immediate shutdown: what a crash leaves (no checkpoint; recovery on the next start).
    down: async () => runPg('pg_ctl', ['stop', '-D', data, '-m', 'immediate', '-w']),
    up: pgUp,
    freeze: () => signalTree(postmasterPid(), 'SIGSTOP'),
    thaw: () => signalTree(postmasterPid(), 'SIGCONT'),
  };

  // ---- OpenBao on raft: one node, initialised once, unsealed after every start.
  const baoDir = path.join(dir, 'bao');
  await fsp.mkdir(path.join(baoDir, 'raft'), { recursive: true, mode: 0o700 });
  const baoAddress = `http://${HOST}:${baoPort}`;
  const baoConfig = path.join(baoDir, 'config.hcl');
  await fsp.writeFile(
    baoConfig,
    [
      `storage "raft" {\n  path = "${path.join(baoDir, 'raft')}"\n  node_id = "node1"\n}`,
      `listener "tcp" {\n  address = "${HOST}:${baoPort}"\n  cluster_address = "${HOST}:${baoCluster}"\n  tls_disable = true\n}`,
      `api_addr = "${baoAddress}"`,
      `cluster_addr = "http://${HOST}:${baoCluster}"`,
      'disable_mlock = true',
      'ui = false',
    ].join('\n') + '\n',
    { mode: 0o600 },
  );
  let baoChild: ChildProcess | null = null;
  let unsealKey = '';
  let rootToken = '';
  // Init writes the raft store and generates keys: seconds on a loaded machine.
  const baoCall = async (method: string, apiPath: string, body?: unknown): Promise<Response> =>
    fetch(`${baoAddress}/v1/${apiPath}`, {
      method,
      headers: rootToken ? { 'X-Vault-Token': rootToken } : {},
      ...(body !== undefined ? { body: JSON.stringify(body) } : {}),
      signal: AbortSignal.timeout(60_000),
    });
  const baoStart = async () => {
    baoChild = spawnLogged(dir, 'bao', toolPath('bao'), ['server', `-config=${baoConfig}`], { HOME: baoDir });
    live.children.add(baoChild);
    await until('openbao listener', async () => {
      const res = await fetch(`${baoAddress}/v1/sys/seal-status`, { signal: AbortSignal.timeout(2000) });
      if (!res.ok) throw new Error(`seal-status ${res.status}`);
    });
  };
  const baoUnseal = async () => {
    const res = await baoCall('PUT', 'sys/unseal', { key: unsealKey });
    if (!res.ok) throw new Error(`unseal: ${res.status}`);
    // Active once raft has elected this node: sys/health answers 200 then.
    await until('openbao active', async () => {
      const h = await fetch(`${baoAddress}/v1/sys/health`, { signal: AbortSignal.timeout(2000) });
      if (h.status !== 200) throw new Error(`sys/health ${h.status}`);
    });
  };
  stoppers.push(() => baoKill());
  await baoStart();
  {
    const res = await baoCall('PUT', 'sys/init', { secret_shares: 1, secret_threshold: 1 });
    if (!res.ok) throw new Error(`openbao init: ${res.status} ${await res.text()}`);
    const body = (await res.json()) as { keys_base64: string[]; root_token: string };
    unsealKey = body.keys_base64[0]!;
    rootToken = body.root_token;
    secrets.push(unsealKey, rootToken);
  }
  await baoUnseal();
  {
    const res = await baoCall('POST', 'sys/mounts/secret', { type: 'kv', options: { version: '2' } });
    if (!res.ok) throw new Error(`openbao kv mount: ${res.status} ${await res.text()}`);
    // The mount is usable once its upgrade finished: a write succeeds.
    await until('openbao kv', async () => {
      const w = await baoCall('POST', 'secret/data/ready', { data: { ok: true } });
      if (!w.ok) throw new Error(`kv write ${w.status}`);
    });
  }
  async function baoKill(): Promise<void> {
    const child = baoChild;
    if (!child) return;
    baoChild = null;
    try {
      process.kill(child.pid!, 'SIGCONT');
    } catch {
      // gone
    }
    child.kill('SIGKILL');
    await exited(child);
    live.children.delete(child);
  }
  const bao = {
    down: baoKill,
    up: async () => {
      await baoStart();
      await baoUnseal();
    },
    freeze: () => baoChild?.kill('SIGSTOP'),
    thaw: () => baoChild?.kill('SIGCONT'),
  };

  // ---- Temporal dev server on a db file, restarted on the same file and ports.
  const temporalAddress = `${HOST}:${tPort}`;
  let temporalChild: ChildProcess | null = null;
  const temporalUp = async () => {
    temporalChild = spawnLogged(dir, 'temporal', toolPath('temporal'), [
      ...temporalDevServerArgs({ dbFile: path.join(dir, 'temporal.db'), port: tPort, httpPort: tHttp, metricsPort: tMetrics }),
      '--headless',
    ]);
    live.children.add(temporalChild);
    await until('temporal', async () => {
      const conn = await connectTemporal({ address: temporalAddress, connectTimeout: 1000 });
      try {
        await conn.withDeadline(Date.now() + 3000, async () => {
          await conn.workflowService.getSystemInfo({});
          await conn.workflowService.describeNamespace({ namespace: 'default' });
        });
      } finally {
        await conn.close();
      }
    });
  };
  const temporalKill = async () => {
    const child = temporalChild;
    if (!child) return;
    temporalChild = null;
    child.kill('SIGKILL');
    await exited(child);
    live.children.delete(child);
  };
  stoppers.push(temporalKill);
  await temporalUp();

  return {
    dir,
    temporal: { address: temporalAddress },
    vault: { address: baoAddress, token: rootToken },
    postgres,
    secrets,
    pg,
    bao,
    temporalServer: { down: temporalKill, up: temporalUp },
    stop,
  };
}
