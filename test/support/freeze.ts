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

/** When a process started (clock ticks since boot: /proc/<pid>/stat's 22nd field). */
function startedAt(pid: string): number {
  const stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
  return Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[19]);
}

/**
 * The OpenBao dev server of a private stack listening at `address` (its command line names the address). The newest
 * such process: an earlier stack's server given the same port may still be ending (or left stopped by a test that
 * failed), and freezing that one would leave the live server answering.
 */
export function vaultPid(address: string): number {
  const listen = `-dev-listen-address=${new URL(address).host}`;
  let found: { pid: number; started: number } | null = null;
  for (const entry of fs.readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const argv = fs.readFileSync(`/proc/${entry}/cmdline`, 'utf8').split('\0');
      if (!argv.includes(listen)) continue;
      const started = startedAt(entry);
      if (!found || started > found.started) found = { pid: Number(entry), started };
    } catch {
      // exited meanwhile
    }
  }
  if (!found) throw new Error(`no OpenBao process listens at ${address}`);
  return found.pid;
}

/** The postmaster of a private stack (its data dir's postmaster.pid) and every backend it started. */
export function postgresPids(stackDir: string): number[] {
  const postmaster = Number(fs.readFileSync(path.join(stackDir, 'pg', 'data', 'postmaster.pid'), 'utf8').split('\n')[0]);
  return [postmaster, ...children(postmaster)];
}

/**
 * Stop every process of `pids`, the first (the server's main process) included. A child that ended between listing and
 * stopping (a backend whose connection just closed) is no longer there to freeze; the main process must be.
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
