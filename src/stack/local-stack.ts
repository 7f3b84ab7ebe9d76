// Private throwaway servers (Temporal, OpenBao, PostgreSQL, Redis, FerretDB, moto, Kubernetes) on free loopback ports, for tests, demo and bench.
import { spawnSync } from 'node:child_process';
import { generateKeyPairSync } from 'node:crypto';
import * as fs from 'node:fs';
import * as fsp from 'node:fs/promises';
import * as https from 'node:https';
import * as os from 'node:os';
import * as path from 'node:path';
import * as url from 'node:url';
import { SEARCH_ATTRIBUTES } from '../../workflows/definitions';
import Redis from 'ioredis';
import { MongoClient } from 'mongodb';
import { Client as PgClient } from 'pg';
import { REPO_ROOT } from './repo-root';
import {
  type Ctx,
  type Handle,
  type Spawned,
  type StackService,
  HOST,
  READY_TIMEOUT_MS,
  freePortPair,
  freePorts,
  logPath,
  masked,
  onPath,
  osUser,
  run,
  secret,
  serviceError,
  spawnService,
  waitReady,
} from './service';
import { SERVICES, type ServiceInfo } from './services';
import { connectTemporal } from '../client/temporal';

/** The services started here; those in src/stack/services.ts live in their own files. */
type BuiltInService = 'temporal' | 'vault' | 'postgres' | 'redis' | 'ferretdb' | 'moto' | 'kubernetes';
export type ServiceName = BuiltInService | keyof typeof SERVICES;

/** What the test stack runs (test/global-setup.ts): every service, each one in its own file included. */
export const TEST_SERVICES: ServiceName[] = [
  ...(['temporal', 'vault', 'postgres', 'redis', 'ferretdb', 'moto', 'kubernetes'] as const),
  ...(Object.keys(SERVICES) as (keyof typeof SERVICES)[]),
];

/** Static-token users of the stack's kube-apiserver; tests bind roles to them per namespace. */
export const KUBE_USERS = ['rotator', 'rotator-limited', 'controller'] as const;
export type KubeUser = (typeof KUBE_USERS)[number];

export interface StackInfo extends ServiceInfo {
  dir: string;
  temporal?: { address: string; namespace: string };
  vault?: { address: string; token: string };
  postgres?: { host: string; port: number; user: string; password: string; database: string };
  redis?: { host: string; port: number };
  /** A MongoDB-wire server; user/password is its admin, authenticating against authDatabase. */
  ferretdb?: { host: string; port: number; user: string; password: string; authDatabase: string };
  moto?: { endpoint: string };
  /**
   * OpenBao's database secrets engine, set up when vault, postgres and redis are all in the stack: connections to
   * both, each with its own admin login, and no roles (tests create their own with short TTLs).
   */
  vaultDatabase?: { mount: string; postgresConnection: string; redisConnection: string };
  /**
   * A real kube-apiserver on etcd, no controllers. `adminToken` is in system:masters; the `users` hold no rights
   * until a test binds a Role to them. `ca` is the PEM of the server's self-signed certificate.
   */
  kubernetes?: { server: string; ca: string; adminToken: string; users: Record<KubeUser, string> };
}

export interface LocalStack extends StackInfo {
  stop(): Promise<void>;
}

export interface LocalStackOptions {
  /** Default: every service except moto. */
  services?: ServiceName[];
  /** Parent directory for the stack's temp dir (default os.tmpdir()); must be traversable by the postgres user when root. */
  dir?: string;
  log?: (line: string) => void;
}

export { REPO_ROOT };

/** Built by scripts/build-kube-apiserver.sh (called from bootstrap); the same version as its KUBE_VERSION default. */
export const KUBE_VERSION = 'v1.37.2';

export function kubeApiserverPath(): string {
  const p = path.join(REPO_ROOT, '.tools', 'kube', KUBE_VERSION, 'kube-apiserver');
  if (!fs.existsSync(p))
    throw new Error(`${p} is missing: run npm run bootstrap -- --services kubernetes (builds it with Go, ~7 min once)`);
  return p;
}

/** The bootstrap service (scripts/bootstrap.sh --services) that installs each tool. */
const TOOL_SERVICE = { temporal: 'temporal', bao: 'vault', moto_server: 'moto', 'temporal-test-server': 'test-tools' } as const;

export function toolPath(name: 'temporal' | 'bao' | 'moto_server' | 'temporal-test-server'): string {
  const p = path.join(REPO_ROOT, '.venv', 'bin', name);
  if (!fs.existsSync(p)) throw new Error(`${p} is missing: run npm run bootstrap -- --services ${TOOL_SERVICE[name]}`);
  return p;
}

// Safety net: if the parent exits without stop(), don't leave servers (or postmaster, which pg_ctl detaches) behind.
const live = new Set<{ handles: Handle[]; dir: string }>();
let exitHookInstalled = false;
function installExitHook(): void {
  if (exitHookInstalled) return;
  exitHookInstalled = true;
  process.on('exit', () => {
    for (const s of live) {
      for (const h of s.handles) h.killSync();
      fs.rmSync(s.dir, { recursive: true, force: true });
    }
  });
}

export async function startLocalStack(opts: LocalStackOptions = {}): Promise<LocalStack> {
  const services = [...new Set(opts.services ?? (['temporal', 'vault', 'postgres', 'redis', 'ferretdb'] as ServiceName[]))];
  const log = opts.log ?? (() => {});
  const parent = opts.dir ?? os.tmpdir();
  await fsp.mkdir(parent, { recursive: true });
  const dir = await fsp.mkdtemp(path.join(parent, 'rotator-stack-'));
  // The postgres OS user must traverse this dir to reach its data dir.
  await fsp.chmod(dir, 0o755);

  const handles: Handle[] = [];
  const entry = { handles, dir };
  live.add(entry);
  installExitHook();
  const ctx: Ctx = { dir, log, secrets: [], track: (h) => handles.push(h) };

  const info: StackInfo = { dir };
  const t0 = Date.now();
  const results = await Promise.allSettled(
    services.map(async (s) => {
      const t = Date.now();
      const own = (SERVICES as Record<string, StackService<unknown>>)[s];
      if (own) Object.assign(info, { [s]: await own.start(ctx) });
      else await STARTERS[s as BuiltInService](ctx, info);
      log(`stack: ${s} ready (${Date.now() - t} ms)`);
    }),
  );
  const failures = results.flatMap((r) => (r.status === 'rejected' ? [r.reason as unknown] : []));
  if (failures.length === 0 && info.vault && info.postgres && info.redis) {
    const t = Date.now();
    try {
      await configureVaultDatabase(ctx, info);
      log(`stack: vault database engine ready (${Date.now() - t} ms)`);
    } catch (e) {
      failures.push(e);
    }
  }

  let stopped: Promise<void> | undefined;
  const stop = (): Promise<void> =>
    (stopped ??= (async () => {
      await Promise.allSettled(handles.map((h) => h.stop()));
      live.delete(entry);
      await fsp.rm(dir, { recursive: true, force: true });
    })());

  if (failures.length > 0) {
    await stop();
    const msg = failures.map((e) => (e instanceof Error ? e.message : String(e))).join('\n\n');
    throw new Error(`local stack failed to start:\n${msg}`);
  }
  log(`stack: ${services.join(', ')} ready in ${Date.now() - t0} ms (dir ${dir})`);
  return { ...info, stop };
}

const STARTERS: Record<BuiltInService, (ctx: Ctx, info: StackInfo) => Promise<void>> = {
  temporal: startTemporal,
  vault: startVault,
  postgres: startPostgres,
  redis: startRedis,
  ferretdb: startFerretdb,
  moto: startMoto,
  kubernetes: startKubernetes,
};

/** `temporal server start-dev` on loopback as rotator's tests run it; a caller adds the UI's flags or --headless. */
export function temporalDevServerArgs(o: { dbFile: string; port: number; httpPort: number; metricsPort: number }): string[] {
  return [
    'server',
    'start-dev',
    '--db-filename',
    o.dbFile,
    '--ip',
    HOST,
    '--port',
    String(o.port),
    '--http-port',
    String(o.httpPort),
    '--metrics-port',
    String(o.metricsPort),
    '--log-level',
    'error',
    // Throwaway data: the WAL without fsync halves the server's CPU per rotation (measured by npm run bench).
    '--sqlite-pragma',
    'journal_mode=wal',
    '--sqlite-pragma',
    'synchronous=off',
    // An activity scheduled by a workflow task comes back in the answer to it, to the worker that scheduled it, not
    // through the task queue (eager dispatch, off by default): a rotation's revoke starts one round trip sooner.
    '--dynamic-config-value',
    'system.enableActivityEagerExecution=true',
    // Rotator's search attributes (workflows/definitions.ts), which every rotation carries from its start.
    ...Object.values(SEARCH_ATTRIBUTES).flatMap((key) => ['--search-attribute', `${key.name}=Keyword`]),
  ];
}

async function startTemporal(ctx: Ctx, info: StackInfo): Promise<void> {
  const [port, httpPort, metricsPort] = await freePorts(3);
  const address = `${HOST}:${port}`;
  const child = spawnService(ctx, 'temporal', toolPath('temporal'), [
    ...temporalDevServerArgs({ dbFile: path.join(ctx.dir, 'temporal.db'), port, httpPort, metricsPort }),
    '--headless',
  ]);
  await waitReady(ctx, 'temporal', child, async () => {
    const conn = await connectTemporal({ address, connectTimeout: 1000 });
    try {
      // The default namespace is registered asynchronously after the frontend starts answering.
      await conn.withDeadline(Date.now() + 3000, async () => {
        await conn.workflowService.getSystemInfo({});
        await conn.workflowService.describeNamespace({ namespace: 'default' });
        await conn.workflowService.listWorkflowExecutions({ namespace: 'default', pageSize: 1 });
      });
    } finally {
      await conn.close();
    }
  });
  info.temporal = { address, namespace: 'default' };
}

async function startVault(ctx: Ctx, info: StackInfo): Promise<void> {
  // Dev mode also binds a cluster listener on port+1, so reserve that too.
  const port = await freePortPair();
  const token = secret();
  ctx.secrets.push(token);
  const address = `http://${HOST}:${port}`;
  const home = path.join(ctx.dir, 'vault-home');
  await fsp.mkdir(home, { mode: 0o700 });
  // Token via env, not argv, so it doesn't show up in ps; own HOME so nothing touches ~/.vault-token.
  const child = spawnService(
    ctx,
    'vault',
    toolPath('bao'),
    ['server', '-dev', '-dev-no-store-token', `-dev-listen-address=${HOST}:${port}`],
    { BAO_DEV_ROOT_TOKEN_ID: token, HOME: home },
  );
  await waitReady(ctx, 'vault', child, async () => {
    const res = await fetch(`${address}/v1/sys/health`, { signal: AbortSignal.timeout(2000) });
    if (res.status !== 200) throw new Error(`sys/health answered ${res.status}`);
  });
  const headers = { 'X-Vault-Token': token };
  const mounts = (await (await fetch(`${address}/v1/sys/mounts`, { headers })).json()) as Record<
    string,
    { type?: string; options?: { version?: string } | null }
  >;
  const kv = mounts['secret/'];
  if (kv?.type !== 'kv' || kv.options?.version !== '2') {
    if (kv) throw new Error(`vault: secret/ is mounted as ${kv.type} v${kv.options?.version ?? '1'}, expected kv v2`);
    const res = await fetch(`${address}/v1/sys/mounts/secret`, {
      method: 'POST',
      headers,
      body: JSON.stringify({ type: 'kv', options: { version: '2' } }),
    });
    if (!res.ok) throw new Error(`vault: mounting kv v2 at secret/ failed: ${res.status} ${await res.text()}`);
  }
  info.vault = { address, token };
}

/**
 * Mounts the database engine with a connection to the stack's PostgreSQL and one to its Redis. OpenBao gets logins
 * of its own, not the stack's admins: `rotate-root` changes the password of the login it was given.
 */
async function configureVaultDatabase(ctx: Ctx, info: StackInfo): Promise<void> {
  const { address, token } = info.vault!;
  const pg = info.postgres!;
  const redis = info.redis!;
  const vaultDatabase = { mount: 'database', postgresConnection: 'pg', redisConnection: 'redis' };
  const write = async (apiPath: string, body: unknown): Promise<void> => {
    const res = await fetch(`${address}/v1/${apiPath}`, {
      method: 'POST',
      headers: { 'X-Vault-Token': token },
      body: JSON.stringify(body),
    });
    if (!res.ok) throw new Error(`vault: writing ${apiPath} failed: ${res.status} ${masked(ctx, await res.text())}`);
  };
  const pgPassword = secret();
  const redisPassword = secret();
  ctx.secrets.push(pgPassword, redisPassword);

  const pgLogin = async () => {
    const client = new PgClient({ ...pg, connectionTimeoutMillis: 5000 });
    try {
      await client.connect();
      await client.query(`CREATE ROLE bao_admin WITH LOGIN SUPERUSER PASSWORD ${client.escapeLiteral(pgPassword)}`);
    } finally {
      await client.end().catch(() => {});
    }
  };
  // ACL SETUSER/GETUSER/DELUSER is all the plugin sends after AUTH; the users it creates need no rights of ours.
  const redisLogin = async () => {
    const r = new Redis({ ...redis, lazyConnect: true, maxRetriesPerRequest: 0, retryStrategy: () => null });
    r.on('error', () => {});
    try {
      await r.connect();
      await r.call(
        'ACL',
        'SETUSER',
        'bao_admin',
        'reset',
        'on',
        `>${redisPassword}`,
        '+@connection',
        '+acl|setuser',
        '+acl|getuser',
        '+acl|deluser',
      );
    } finally {
      r.disconnect();
    }
  };
  await Promise.all([write(`sys/mounts/${vaultDatabase.mount}`, { type: 'database' }), pgLogin(), redisLogin()]);
  await Promise.all([
    write(`${vaultDatabase.mount}/config/${vaultDatabase.postgresConnection}`, {
      plugin_name: 'postgresql-database-plugin',
      connection_url: `postgresql://{{username}}:{{password}}@${HOST}:${pg.port}/${pg.database}?sslmode=disable`,
      username: 'bao_admin',
      password: pgPassword,
      allowed_roles: '*',
    }),
    write(`${vaultDatabase.mount}/config/${vaultDatabase.redisConnection}`, {
      plugin_name: 'redis-database-plugin',
      host: redis.host,
      port: redis.port,
      username: 'bao_admin',
      password: redisPassword,
      tls: false,
      allowed_roles: '*',
    }),
  ]);
  info.vaultDatabase = vaultDatabase;
}

async function startPostgres(ctx: Ctx, info: StackInfo): Promise<void> {
  const bin = pgBinDir();
  const [port] = await freePorts(1);
  const password = secret();
  ctx.secrets.push(password);
  const pgDir = path.join(ctx.dir, 'pg');
  const data = path.join(pgDir, 'data');
  const pwfile = path.join(pgDir, 'pwfile');
  const logFile = logPath(ctx, 'postgres');
  await fsp.mkdir(pgDir, { mode: 0o700 });
  await fsp.writeFile(pwfile, password + '\n', { mode: 0o600 });
  await fsp.writeFile(logFile, '', { mode: 0o600 });
  // initdb refuses to run as root, so the cluster belongs to the postgres OS user.
  const asRoot = process.getuid?.() === 0;
  if (asRoot) {
    const { uid, gid } = osUser('postgres');
    for (const p of [pgDir, pwfile, logFile]) await fsp.chown(p, uid, gid);
  }
  const cmd = (exe: string, args: string[]): [string, string[]] =>
    asRoot ? ['runuser', ['-u', 'postgres', '--', path.join(bin, exe), ...args]] : [path.join(bin, exe), args];

  const pgCtlStop = cmd('pg_ctl', ['stop', '-D', data, '-m', 'immediate', '-w']);
  let started = false;
  ctx.track({
    name: 'postgres',
    stop: async () => {
      if (started) await run(ctx, 'postgres', 'pg_ctl stop', pgCtlStop).catch(() => {});
    },
    killSync: () => {
      if (started) spawnSync(pgCtlStop[0], pgCtlStop[1], { stdio: 'ignore', timeout: 10_000 });
    },
  });

  await run(
    ctx,
    'postgres',
    'initdb',
    cmd('initdb', [
      '-D',
      data,
      '--auth-host=scram-sha-256',
      '--auth-local=trust',
      '--username=postgres',
      `--pwfile=${pwfile}`,
      '--no-sync',
      '--encoding=UTF8',
      '--no-locale',
    ]),
  );
  await fsp.rm(pwfile);
  const serverOpts = [
    `-p ${port}`,
    `-k '${pgDir}'`,
    `-c listen_addresses=${HOST}`,
    '-c max_connections=200',
    '-c fsync=off',
    '-c synchronous_commit=off',
    '-c full_page_writes=off',
  ].join(' ');
  started = true; // from here a half-started postmaster may exist
  await run(
    ctx,
    'postgres',
    'pg_ctl start',
    cmd('pg_ctl', ['start', '-w', '-t', String(READY_TIMEOUT_MS / 1000), '-D', data, '-l', logFile, '-o', serverOpts]),
  );

  const conn = { host: HOST, port, user: 'postgres', password, database: 'postgres' };
  const client = new PgClient({ ...conn, connectionTimeoutMillis: 5000 });
  try {
    await client.connect();
    await client.query('select 1');
  } catch (e) {
    throw serviceError(ctx, 'postgres', `password login failed: ${(e as Error).message}`);
  } finally {
    await client.end().catch(() => {});
  }
  info.postgres = conn;
}

async function startRedis(ctx: Ctx, info: StackInfo): Promise<void> {
  const [port] = await freePorts(1);
  const dataDir = path.join(ctx.dir, 'redis');
  await fsp.mkdir(dataDir);
  const child = spawnService(ctx, 'redis', onPath('redis-server', '/usr/bin', '/usr/sbin', '/usr/local/bin'), [
    '--port',
    String(port),
    '--bind',
    HOST,
    '--save',
    '',
    '--appendonly',
    'no',
    '--dir',
    dataDir,
  ]);
  await waitReady(ctx, 'redis', child, async () => {
    const r = new Redis({
      host: HOST,
      port,
      lazyConnect: true,
      maxRetriesPerRequest: 0,
      retryStrategy: () => null,
      connectTimeout: 1000,
    });
    r.on('error', () => {}); // failures surface through connect()/ping()
    try {
      await r.connect();
      const pong = await r.ping();
      if (pong !== 'PONG') throw new Error(`PING answered ${pong}`);
    } finally {
      r.disconnect();
    }
  });
  info.redis = { host: HOST, port };
}

/** Built by scripts/bootstrap.sh; v1.x, the last FerretDB that runs on SQLite (2.x needs PostgreSQL with DocumentDB). */
export function ferretdbPath(): string {
  const p = path.join(REPO_ROOT, '.tools', 'go', 'bin', 'ferretdb');
  if (!fs.existsSync(p)) throw new Error(`${p} is missing: run npm run bootstrap -- --services ferretdb (builds it with Go)`);
  return p;
}

async function startFerretdb(ctx: Ctx, info: StackInfo): Promise<void> {
  const [port] = await freePorts(1);
  const user = 'rotator_admin';
  const authDatabase = 'admin';
  const password = secret();
  ctx.secrets.push(password);
  const home = path.join(ctx.dir, 'ferretdb');
  const data = path.join(home, 'data');
  await fsp.mkdir(data, { recursive: true, mode: 0o700 });
  const child = spawnService(
    ctx,
    'ferretdb',
    ferretdbPath(),
    [
      // SQLite keeps FerretDB independent of the stack's PostgreSQL; the trailing slash marks a directory.
      '--handler=sqlite',
      `--sqlite-url=${url.pathToFileURL(data).href}/`,
      `--listen-addr=${HOST}:${port}`,
      '--debug-addr=-',
      `--state-dir=${home}`,
      '--telemetry=disable',
      // Users in admin.system.users, SCRAM, createUser/updateUser/dropUser; without it FerretDB 1.x passes
      // credentials to the backend, and SQLite checks none.
      '--test-enable-new-auth',
      `--setup-database=${authDatabase}`,
      `--setup-username=${user}`,
      // Not DEBUG: that level logs whole requests, createUser's pwd included.
      '--log-level=warn',
    ],
    // The setup password via env, not argv, so it doesn't show up in ps.
    { FERRETDB_SETUP_PASSWORD: password },
  );
  await waitReady(ctx, 'ferretdb', child, async () => {
    const client = new MongoClient(`mongodb://${HOST}:${port}/`, {
      auth: { username: user, password },
      authSource: authDatabase,
      authMechanism: 'SCRAM-SHA-256',
      serverSelectionTimeoutMS: 1000,
      connectTimeoutMS: 1000,
    });
    try {
      await client.db(authDatabase).command({ ping: 1 });
    } finally {
      await client.close();
    }
  });
  info.ferretdb = { host: HOST, port, user, password, authDatabase };
}

async function startMoto(ctx: Ctx, info: StackInfo): Promise<void> {
  const [port] = await freePorts(1);
  const endpoint = `http://${HOST}:${port}`;
  const child = spawnService(ctx, 'moto', toolPath('moto_server'), ['-H', HOST, '-p', String(port)]);
  await waitReady(ctx, 'moto', child, async () => {
    await fetch(`${endpoint}/`, { signal: AbortSignal.timeout(2000) });
  });
  info.moto = { endpoint };
}

/**
 * etcd and a kube-apiserver with static tokens and RBAC. No controller manager, scheduler or kubelet: objects are
 * stored and validated, nothing acts on them (tests play the Deployment controller themselves).
 */
async function startKubernetes(ctx: Ctx, info: StackInfo): Promise<void> {
  const apiserverExe = kubeApiserverPath();
  const [etcdPort, peerPort, metricsPort, port] = await freePorts(4);
  const home = path.join(ctx.dir, 'kubernetes');
  await fsp.mkdir(path.join(home, 'etcd'), { recursive: true, mode: 0o700 });
  // Tracked before anything starts, so a failed start is cleaned up too; stopped in this order because etcd going
  // first hangs the apiserver's shutdown for 20 s and more.
  const parts: Spawned[] = [];
  ctx.track({
    name: 'kubernetes',
    stop: async () => {
      for (const p of [...parts].reverse()) await p.stop();
    },
    killSync: () => parts.forEach((p) => p.killSync()),
  });
  const etcdUrl = `http://${HOST}:${etcdPort}`;
  const peerUrl = `http://${HOST}:${peerPort}`;
  const etcd = spawnService(
    ctx,
    'kubernetes',
    onPath('etcd', '/usr/bin', '/usr/local/bin'),
    [
      '--name=default',
      `--data-dir=${path.join(home, 'etcd')}`,
      `--listen-client-urls=${etcdUrl}`,
      `--advertise-client-urls=${etcdUrl}`,
      `--listen-peer-urls=${peerUrl}`,
      `--initial-advertise-peer-urls=${peerUrl}`,
      `--initial-cluster=default=${peerUrl}`,
      `--listen-metrics-urls=http://${HOST}:${metricsPort}`,
      '--unsafe-no-fsync',
      '--log-level=error',
    ],
    {},
    'etcd',
  );
  parts.push(etcd);
  await waitReady(ctx, 'kubernetes', etcd.child, async () => {
    const res = await fetch(`${etcdUrl}/health`, { signal: AbortSignal.timeout(2000) });
    const body = (await res.json()) as { health?: string };
    if (body.health !== 'true') throw new Error(`etcd /health answered ${JSON.stringify(body)}`);
  });

  const { publicKey, privateKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
  await fsp.writeFile(path.join(home, 'sa.pub'), publicKey.export({ type: 'spki', format: 'pem' }), { mode: 0o600 });
  await fsp.writeFile(path.join(home, 'sa.key'), privateKey.export({ type: 'pkcs8', format: 'pem' }), { mode: 0o600 });
  const adminToken = secret();
  const users = Object.fromEntries(KUBE_USERS.map((u) => [u, secret()])) as Record<KubeUser, string>;
  ctx.secrets.push(adminToken, ...Object.values(users));
  const tokens = [`${adminToken},admin,admin-uid,"system:masters"`, ...KUBE_USERS.map((u) => `${users[u]},${u},${u}-uid`)];
  await fsp.writeFile(path.join(home, 'tokens.csv'), tokens.join('\n') + '\n', { mode: 0o600 });
  const certDir = path.join(home, 'certs');
  const apiserver = spawnService(
    ctx,
    'kubernetes',
    apiserverExe,
    [
      `--etcd-servers=${etcdUrl}`,
      `--bind-address=${HOST}`,
      `--advertise-address=${HOST}`,
      `--secure-port=${port}`,
      `--cert-dir=${certDir}`,
      '--service-account-issuer=https://kubernetes.default.svc.cluster.local',
      `--service-account-key-file=${path.join(home, 'sa.pub')}`,
      `--service-account-signing-key-file=${path.join(home, 'sa.key')}`,
      '--service-cluster-ip-range=10.0.0.0/24',
      // A loopback advertise address makes the endpoint reconciler exit the server at once.
      '--endpoint-reconciler-type=none',
      `--token-auth-file=${path.join(home, 'tokens.csv')}`,
      '--authorization-mode=RBAC',
      '--v=0',
    ],
    {},
    'kube-apiserver',
  );
  parts.push(apiserver);
  const server = `https://${HOST}:${port}`;
  await waitReady(ctx, 'kubernetes', apiserver.child, async () => {
    const ca = await fsp.readFile(path.join(certDir, 'apiserver.crt'), 'utf8');
    const { status, body } = await httpsGet(`${server}/readyz`, ca, adminToken);
    if (status !== 200 || body.trim() !== 'ok') throw new Error(`/readyz answered ${status}: ${body.slice(0, 200)}`);
  });
  const ca = await fsp.readFile(path.join(certDir, 'apiserver.crt'), 'utf8');
  info.kubernetes = { server, ca, adminToken, users };
}

function httpsGet(target: string, ca: string, token: string): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const req = https.get(target, { ca, headers: { Authorization: `Bearer ${token}` }, timeout: 2000 }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (c: string) => (body += c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
    });
    req.on('timeout', () => req.destroy(new Error('timed out')));
    req.on('error', reject);
  });
}

/** Newest Debian /usr/lib/postgresql/<v>/bin, else whatever initdb is on PATH. */
function pgBinDir(): string {
  const base = '/usr/lib/postgresql';
  const versions = fs.existsSync(base)
    ? fs
        .readdirSync(base)
        .filter((v) => fs.existsSync(path.join(base, v, 'bin', 'initdb')))
        .sort((a, b) => Number(b) - Number(a))
    : [];
  if (versions.length > 0) return path.join(base, versions[0], 'bin');
  return path.dirname(onPath('initdb'));
}
