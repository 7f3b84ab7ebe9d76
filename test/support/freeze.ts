// Freezing and thawing a test's own private servers (SIGSTOP/SIGCONT), found by the port or data dir they were given.
import * as fs from 'node:fs';
import * as path from 'node:path';

function children(pid: number): number[] {
  const out: number[] = [];
  for (const entry of fs.readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      // /proc/<pid>/stat: "pid (comm) state ppid …"; comm may hold spaces, so read after the last ')'.
      const stat = fs.readFileSync(`/proc/${entry}/stat`, 'utf8');
      const ppid = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
      if (ppid === pid) out.push(Number(entry));
    } catch {
      // exited meanwhile
    }
  }
  return out;
}

/**
 * The OpenBao dev server of a private stack listening at `address`: the process holding the listening socket of its
 * port (/proc/net/tcp, then the process whose fd is that socket). Not found by command line: on a busy machine another
 * stack's server may have been given the same port, failed to bind it and still be ending, and freezing that one
 * would leave the live server answering.
 */
export function vaultPid(address: string): number {
  const port = Number(new URL(address).port);
  const inodes = new Set<string>();
  for (const table of ['/proc/net/tcp', '/proc/net/tcp6']) {
    for (const line of fs.readFileSync(table, 'utf8').split('\n').slice(1)) {
      const f = line.trim().split(/\s+/);
      // local_address is HEXIP:HEXPORT; st 0A is LISTEN; the 10th field is the socket's inode.
      if (f.length > 9 && f[3] === '0A' && parseInt(f[1]!.split(':')[1]!, 16) === port) inodes.add(f[9]!);
    }
  }
  for (const entry of fs.readdirSync('/proc')) {
    if (!/^\d+$/.test(entry) || Number(entry) === process.pid) continue;
    try {
      for (const fd of fs.readdirSync(`/proc/${entry}/fd`)) {
        const link = fs.readlinkSync(`/proc/${entry}/fd/${fd}`);
        if (inodes.has(link.slice('socket:['.length, -1)) && link.startsWith('socket:[')) return Number(entry);
      }
    } catch {
      // exited meanwhile, or not ours to read
    }
  }
  throw new Error(`no process listens at ${address}`);
}

/** The postmaster of a private stack (its data dir's postmaster.pid) and every backend it started. */
export function postgresPids(stackDir: string): number[] {
  const postmaster = Number(fs.readFileSync(path.join(stackDir, 'pg', 'data', 'postmaster.pid'), 'utf8').split('\n')[0]);
  return [postmaster, ...children(postmaster)];
}

/** The MariaDB server of a private stack (one process; its pid file in the stack's mariadb dir). */
export function mariadbPid(stackDir: string): number {
  return Number(fs.readFileSync(path.join(stackDir, 'mariadb', 'mariadb.pid'), 'utf8').trim());
}

/**
 * Stop every process of `pids`, the first (the server's main process) included, and return once every thread of each
 * is stopped. kill(2) only sends SIGSTOP: a thread already running may still answer a request sent right after it
 * (OpenBao did, about once in 14 freezes). A child that ended between listing and stopping (a backend whose connection
 * just closed) is no longer there to freeze; the main process must be.
 */
export function freeze(pids: number[]): void {
  const [main, ...rest] = pids;
  process.kill(main, 'SIGSTOP');
  for (const pid of rest) {
    try {
      process.kill(pid, 'SIGSTOP');
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'ESRCH') throw err;
    }
  }
  const deadline = Date.now() + 10_000;
  for (const pid of pids) {
    while (!stopped(pid)) {
      if (Date.now() > deadline) throw new Error(`process ${pid} was sent SIGSTOP and has not stopped in 10 s`);
      Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 1);
    }
  }
}

/** Whether every thread of `pid` is stopped (state T), or the process is gone (or a zombie its stopped parent cannot reap). */
function stopped(pid: number): boolean {
  try {
    return fs
      .readdirSync(`/proc/${pid}/task`)
      .every((t) => ['T', 't', 'Z', 'X'].includes(stateOf(fs.readFileSync(`/proc/${pid}/task/${t}/stat`, 'utf8'))));
  } catch {
    return true; // ended meanwhile
  }
}

/** The state letter of a /proc stat line ("pid (comm) state …"; comm may hold spaces, so read after the last ')'). */
function stateOf(stat: string): string {
  return stat.slice(stat.lastIndexOf(')') + 2).split(' ')[0]!;
}

export function thaw(pids: number[]): void {
  for (const pid of pids) {
    try {
      process.kill(pid, 'SIGCONT');
    } catch {
      // a backend that ended
    }
  }
}
