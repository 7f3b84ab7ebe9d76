// MariaDB (Debian's mariadb-server) for the mysql target: a throwaway data dir, TCP on a free loopback port, and an
// admin login of its own (`rotator_admin`@`%`, every privilege WITH GRANT OPTION), made over the unix socket as root.
import * as fsp from 'node:fs/promises';
import * as path from 'node:path';
import { createConnection } from 'mysql2/promise';
import { type Ctx, type StackService, HOST, freePorts, onPath, run, secret, spawnService, waitReady } from './service';

export interface MariadbInfo {
  host: string;
  port: number;
  user: string;
  password: string;
}

const ADMIN = 'rotator_admin';

async function start(ctx: Ctx): Promise<MariadbInfo> {
  const [port] = await freePorts(1);
  const password = secret();
  ctx.secrets.push(password);
  const home = path.join(ctx.dir, 'mariadb');
  const data = path.join(home, 'data');
  const socket = path.join(home, 'mariadb.sock');
  await fsp.mkdir(home, { mode: 0o700 });
  // mariadbd refuses to run as root unless told to; the data dir is the stack's own.
  const asRoot = process.getuid?.() === 0 ? ['--user=root'] : [];
  // Small InnoDB files: the data dir is thrown away with the stack. No name resolution: 127.0.0.1 stays itself.
  const common = ['--no-defaults', `--datadir=${data}`, ...asRoot, '--skip-name-resolve', '--innodb-buffer-pool-size=32M'];
  await run(ctx, 'mariadb', 'mariadb-install-db', [
    onPath('mariadb-install-db', '/usr/bin', '/usr/local/bin'),
    [...common, '--auth-root-authentication-method=normal', '--skip-test-db', '--innodb-log-file-size=8M'],
  ]);
  const child = spawnService(ctx, 'mariadb', onPath('mariadbd', '/usr/sbin', '/usr/bin', '/usr/local/bin'), [
    ...common,
    `--port=${port}`,
    `--bind-address=${HOST}`,
    `--socket=${socket}`,
    `--pid-file=${path.join(home, 'mariadb.pid')}`,
    '--innodb-log-file-size=8M',
    '--innodb-flush-log-at-trx-commit=0',
    '--max-connections=300',
    // Errors to stderr (the service log); no general or slow query log: statements never reach a file.
    '--skip-log-bin',
  ]);
  // root@localhost has no password on the socket until this first login gives the stack an admin of its own.
  await waitReady(ctx, 'mariadb', child, async () => {
    const root = await createConnection({ socketPath: socket, user: 'root', connectTimeout: 2000 });
    try {
      await root.query(`CREATE USER IF NOT EXISTS ?@'%' IDENTIFIED BY ?`, [ADMIN, password]);
      await root.query(`GRANT ALL PRIVILEGES ON *.* TO ?@'%' WITH GRANT OPTION`, [ADMIN]);
    } finally {
      await root.end().catch(() => undefined);
    }
  });
  return { host: HOST, port, user: ADMIN, password };
}

export const service: StackService<MariadbInfo> = { start };
