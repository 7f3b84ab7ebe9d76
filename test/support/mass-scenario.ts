// A mass rotation on a real stack: N PostgreSQL logins stored in OpenBao KV, the provider reached through a recording
// proxy (every request the store's server receives, with the time it arrived), and what the budget allows measured
// there. Shared by test/mass-rotation.test.ts, test/fault-injection-mass.test.ts and test/bench/mass.ts.
import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, writeFileSync } from 'node:fs';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import vault from 'node-vault';
import type { StackInfo } from '../../src/stack/local-stack';
import { postgresAdminSecret, vaultProviderYaml } from './rotator-config';
import { REPO_ROOT } from '../../src/stack/repo-root';
import { compiledScript } from './build-cache';

export interface StoreRequest {
  t: number;
  method: string;
  path: string;
  /** An AWS JSON API's operation (its X-Amz-Target header), e.g. secretsmanager.PutSecretValue. */
  target?: string;
  /** When an AWS request was signed (its X-Amz-Date header, epoch ms, whole seconds). */
  signedAt?: number;
}

/** A plain HTTP proxy to `target` that logs each request as it arrives: the store's server as it sees the load. */
export async function recordingProxy(target: string): Promise<{ address: string; log: StoreRequest[]; close(): Promise<void> }> {
  const to = new URL(target);
  const log: StoreRequest[] = [];
  const server = http.createServer((req, res) => {
    const target = req.headers['x-amz-target'];
    const amzDate = /^(\d{4})(\d{2})(\d{2})T(\d{2})(\d{2})(\d{2})Z$/.exec(String(req.headers['x-amz-date'] ?? ''));
    log.push({
      t: Date.now(),
      method: req.method ?? '',
      path: req.url ?? '',
      ...(typeof target === 'string' ? { target } : {}),
      ...(amzDate
        ? { signedAt: Date.parse(`${amzDate[1]}-${amzDate[2]}-${amzDate[3]}T${amzDate[4]}:${amzDate[5]}:${amzDate[6]}Z`) }
        : {}),
    });
    const upstream = http.request(
      { host: to.hostname, port: to.port, method: req.method, path: req.url, headers: req.headers },
      (up) => {
        res.writeHead(up.statusCode ?? 502, up.headers);
        up.pipe(res);
      },
    );
    upstream.on('error', () => res.destroy());
    req.pipe(upstream);
  });
  server.keepAliveTimeout = 60_000;
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const { port } = server.address() as AddressInfo;
  return {
    address: `http://127.0.0.1:${port}`,
    log,
    close: () =>
      new Promise<void>((r) => {
        server.closeAllConnections();
        server.close(() => r());
      }),
  };
}

/** Writes in the log (POST, PUT, DELETE under the KV mount), and the most of them in any one second. */
export function writeLoad(
  log: ReadonlyArray<StoreRequest>,
  from = 0,
): { writes: number; maxInAnySecond: number; maxInACalendarSecond: number } {
  const times = log
    .filter((r) => r.t >= from && ['POST', 'PUT', 'DELETE'].includes(r.method) && r.path.startsWith('/v1/secret/'))
    .map((r) => r.t)
    .sort((a, b) => a - b);
  let max = 0;
  for (let i = 0, j = 0; i < times.length; i++) {
    while (times[i]! - times[j]! >= 1000) j++;
    max = Math.max(max, i - j + 1);
  }
  const perSecond = new Map<number, number>();
  for (const t of times) perSecond.set(Math.floor(t / 1000), (perSecond.get(Math.floor(t / 1000)) ?? 0) + 1);
  return { writes: times.length, maxInAnySecond: max, maxInACalendarSecond: Math.max(0, ...perSecond.values()) };
}

export interface MassScenario {
  taskQueue: string;
  names: string[];
  yaml: string;
  env: Record<string, string>;
  configFile: string;
  proxy: Awaited<ReturnType<typeof recordingProxy>>;
  /** The KV current_version of each secret (0: never written): a rotation publishes exactly one version. */
  versions(): Promise<Record<string, number>>;
  /** Puts another rotation's pending value at a secret's pending path (the next rotation of it fails CONFLICT). */
  plantClaim(name: string): Promise<void>;
  removeClaim(name: string): Promise<void>;
  close(): Promise<void>;
}

export async function massScenario(
  stack: Pick<StackInfo, 'temporal' | 'vault' | 'postgres'>,
  options: { count: number; budget: number; maxConcurrent?: number },
): Promise<MassScenario> {
  const run = randomBytes(3).toString('hex');
  const taskQueue = `mass-${run}`;
  const proxy = await recordingProxy(stack.vault!.address);
  const direct = vault({ apiVersion: 'v1', endpoint: stack.vault!.address, token: stack.vault!.token });
  const adminPath = `secret/data/mass_${run}/admin`;
  await direct.write(adminPath, { data: postgresAdminSecret(stack.postgres!) });
  const names = Array.from({ length: options.count }, (_, i) => `m${run}_${String(i).padStart(4, '0')}`);
  const lines = [
    'temporal:',
    `  address: "${stack.temporal!.address}"`,
    `  task_queue: ${taskQueue}`,
    'providers:',
    '  kv:',
    ...vaultProviderYaml(proxy.address, 'MASS_VAULT_TOKEN'),
    'mass_rotation:',
    `  max_concurrent: ${options.maxConcurrent ?? 20}`,
    '  write_budgets:',
    `    kv: ${options.budget}`,
    'secrets:',
    '  pg_admin:',
    '    provider: kv',
    `    path: ${adminPath}`,
  ];
  names.forEach((n, i) =>
    lines.push(
      `  ${n}:`,
      '    provider: kv',
      `    path: secret/data/mass_${run}/${n}`,
      `    labels: { wave: "${i % 2 === 0 ? 'even' : 'odd'}", team: mass }`,
      '    target:',
      '      type: postgresql',
      '      connection: secret://pg_admin',
      `      role: mass_${run}_${i}`,
      '    rotation:',
      '      strategy: alternating-users',
      '      grace_period: 0s',
      '      drain: { timeout: 1s }',
    ),
  );
  const yaml = lines.join('\n') + '\n';
  const env = { MASS_VAULT_TOKEN: stack.vault!.token };
  const dir = mkdtempSync(join(tmpdir(), 'rotator-mass-'));
  const configFile = join(dir, 'rotator.yaml');
  writeFileSync(configFile, yaml, { mode: 0o600 });
  const pendingPath = (n: string) => `secret/data/rotator-pending/mass_${run}/${n}`;
  return {
    taskQueue,
    names,
    yaml,
    env,
    configFile,
    proxy,
    async versions() {
      const out: Record<string, number> = {};
      for (const n of names) {
        const body = (await direct.read(`secret/metadata/mass_${run}/${n}`).catch(() => null)) as {
          data?: { current_version?: number };
        } | null;
        out[n] = body?.data?.current_version ?? 0;
      }
      return out;
    },
    async plantClaim(n) {
      await direct.write(pendingPath(n), {
        data: { username: 'x', password: 'planted-by-the-test', rotator_rotation_id: 'someone-else' },
      });
    },
    async removeClaim(n) {
      await direct.delete(`secret/metadata/rotator-pending/mass_${run}/${n}`);
    },
    close: () => proxy.close(),
  };
}

export interface CliProcess {
  child: ChildProcess;
  out: () => string;
  err: () => string;
  exited: Promise<number | NodeJS.Signals | null>;
}

/** The CLI as its own process (node itself, so a SIGKILL hits the process that runs it). */
export function spawnCli(args: string[], env: Record<string, string>): CliProcess {
  const child = spawn(process.execPath, [compiledScript('src/cli/main.ts'), ...args], {
    cwd: REPO_ROOT,
    env: { ...process.env, ...env, ROTATOR_LOG_LEVEL: 'error' },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  let err = '';
  child.stdout!.on('data', (d: Buffer) => (out += d.toString()));
  child.stderr!.on('data', (d: Buffer) => (err += d.toString()));
  const exited = new Promise<number | NodeJS.Signals | null>((res) => child.once('exit', (code, signal) => res(signal ?? code)));
  return { child, out: () => out, err: () => err, exited };
}
