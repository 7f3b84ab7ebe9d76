// What a service of the local stack is made of: its own file, a start() that returns what tests and tools need to
// reach it, and the helpers every service shares (free loopback ports, spawned servers logging to the stack's dir).
import { ChildProcess, spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import * as fs from 'node:fs';
import * as net from 'node:net';
import * as path from 'node:path';
import { stopChild } from './stop-child';

export const HOST = '127.0.0.1';
export const READY_TIMEOUT_MS = 60_000;
const STOP_GRACE_MS = 5_000;

/** One started process (or pg cluster) that stop() and the exit hook must clean up. */
export interface Handle {
  name: string;
  stop(): Promise<void>;
  killSync(): void;
}

export interface Ctx {
  dir: string;
  log: (line: string) => void;
  secrets: string[];
  track(h: Handle): void;
}

/**
 * A service that lives in its own file (src/stack/services.ts maps its name to it): start() brings it up on a free
 * loopback port, tracks what must be stopped through ctx, and returns what a client needs (kept in StackInfo under
 * the service's name). Every such service runs in the test stack.
 */
export interface StackService<I> {
  start(ctx: Ctx): Promise<I>;
}

export function secret(): string {
  return randomBytes(24).toString('hex');
}

export function logPath(ctx: Ctx, name: string): string {
  return path.join(ctx.dir, `${name}.log`);
}

export interface Spawned {
  child: ChildProcess;
  stop(): Promise<void>;
  killSync(): void;
}

/**
 * Spawns a long-running server logging to <dir>/<name>.log and tracks it for stop(). With a `part` label it is one
 * process of a service that stops its parts in its own order: returned untracked.
 */
export function spawnService(ctx: Ctx, name: string, exe: string, args: string[], env?: Record<string, string>): ChildProcess;
export function spawnService(
  ctx: Ctx,
  name: string,
  exe: string,
  args: string[],
  env: Record<string, string>,
  part: string,
): Spawned;
export function spawnService(
  ctx: Ctx,
  name: string,
  exe: string,
  args: string[],
  env: Record<string, string> = {},
  part?: string,
): ChildProcess | Spawned {
  // 0600: dev servers print their root token to the log.
  const fd = fs.openSync(logPath(ctx, name), 'a', 0o600);
  let child: ChildProcess;
  try {
    child = spawn(exe, args, { cwd: ctx.dir, env: { ...process.env, ...env }, stdio: ['ignore', fd, fd], detached: false });
  } finally {
    fs.closeSync(fd);
  }
  child.on('error', (e) => fs.appendFile(logPath(ctx, name), `spawn ${exe}: ${e.message}\n`, () => {}));
  // Not holding the event loop open: a forgotten stop() still lets the process exit, and the exit hook kills the child.
  child.unref();
  const spawned: Spawned = {
    child,
    stop: stopChild(child, STOP_GRACE_MS),
    killSync: () => {
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
    },
  };
  if (part !== undefined) return spawned;
  ctx.track({ name, stop: spawned.stop, killSync: spawned.killSync });
  return child;
}

/** Runs a short command to completion, output appended to the service log. */
export async function run(ctx: Ctx, name: string, label: string, [exe, args]: [string, string[]]): Promise<void> {
  const fd = fs.openSync(logPath(ctx, name), 'a', 0o600);
  try {
    const child = spawn(exe, args, { cwd: ctx.dir, stdio: ['ignore', fd, fd] });
    const code = await new Promise<number | string>((resolve) => {
      child.once('error', (e) => resolve(e.message));
      child.once('exit', (c, sig) => resolve(c ?? `signal ${sig}`));
    });
    if (code !== 0) throw serviceError(ctx, name, `${label} failed (${code})`);
  } finally {
    fs.closeSync(fd);
  }
}

export async function waitReady(ctx: Ctx, name: string, child: ChildProcess, probe: () => Promise<void>): Promise<void> {
  const deadline = Date.now() + READY_TIMEOUT_MS;
  let lastErr = 'no answer yet';
  for (let delay = 50; ; delay = Math.min(delay * 2, 500)) {
    if (child.exitCode !== null || child.signalCode !== null || child.pid === undefined) {
      throw serviceError(ctx, name, `exited early (${child.exitCode ?? child.signalCode ?? 'spawn failed'})`);
    }
    try {
      await probe();
      return;
    } catch (e) {
      lastErr = e instanceof Error ? e.message : String(e);
    }
    if (Date.now() > deadline) throw serviceError(ctx, name, `not ready after ${READY_TIMEOUT_MS / 1000} s: ${lastErr}`);
    await new Promise((r) => setTimeout(r, delay));
  }
}

/** An error carrying the tail of the service's log, with secrets masked. */
export function serviceError(ctx: Ctx, name: string, message: string): Error {
  let tail = '';
  try {
    const buf = fs.readFileSync(logPath(ctx, name));
    tail = buf
      .subarray(Math.max(0, buf.length - 4000))
      .toString('utf8')
      .split('\n')
      .slice(-30)
      .join('\n');
    tail = masked(ctx, tail);
  } catch {
    tail = '(no log)';
  }
  return new Error(`${name}: ${message}\n--- tail of ${logPath(ctx, name)} ---\n${tail}`);
}

export function masked(ctx: Ctx, text: string): string {
  for (const s of ctx.secrets) text = text.split(s).join('***');
  return text;
}

export function listen(port: number): Promise<net.Server | undefined> {
  return new Promise((resolve) => {
    const srv = net.createServer();
    srv.once('error', () => resolve(undefined));
    srv.listen(port, HOST, () => resolve(srv));
  });
}

export function close(srv: net.Server): Promise<void> {
  return new Promise((resolve) => srv.close(() => resolve()));
}

/**
 * Where the stack's ports come from: below the kernel's ephemeral range (Linux: 32768–60999, where port 0 and every
 * outgoing connection's source port land). A port found free there can be taken as a source port before the child
 * binds it (moto once exited with "Address already in use" that way), and a server restarted on its port (the outage
 * tests) would find it taken; a Temporal cluster also keeps its hosts' ports in a SMALLINT column.
 */
const PORTS = ((): { from: number; to: number } => {
  let low = 32_768;
  try {
    low = Number(fs.readFileSync('/proc/sys/net/ipv4/ip_local_port_range', 'utf8').trim().split(/\s+/)[0]) || low;
  } catch {
    // not Linux: its default
  }
  const to = Math.min(32_767, low - 1);
  // An ephemeral range tuned to start near 1024 leaves no room below it: back to the default's, as before.
  return to - 1_024 < 1_000 ? { from: 20_000, to: 32_767 } : { from: Math.max(1_024, to - 12_767), to };
})();

/** Ports this process handed out already: never twice, so two servers started one after the other cannot share one. */
const handedOut = new Set<number>();

const somePort = (): number => PORTS.from + Math.floor(Math.random() * (PORTS.to - PORTS.from + 1));

/** n distinct free loopback ports (held open together so they differ, then released for the child to bind). */
export async function freePorts(n: number): Promise<number[]> {
  const held: net.Server[] = [];
  const ports: number[] = [];
  try {
    for (let tries = 0; ports.length < n && tries < 500; tries++) {
      const port = somePort();
      if (ports.includes(port) || handedOut.has(port)) continue;
      const srv = await listen(port);
      if (srv) {
        held.push(srv);
        ports.push(port);
      }
    }
  } finally {
    await Promise.all(held.map(close));
  }
  if (ports.length < n) throw new Error(`could not find ${n} free ports between ${PORTS.from} and ${PORTS.to} on ${HOST}`);
  for (const port of ports) handedOut.add(port);
  return ports;
}

/** A free port p such that p+1 is free too. */
export async function freePortPair(): Promise<number> {
  for (let i = 0; i < 200; i++) {
    const p = somePort();
    if (handedOut.has(p) || handedOut.has(p + 1)) continue;
    const a = await listen(p);
    if (!a) continue;
    const b = await listen(p + 1);
    await close(a);
    if (b) {
      await close(b);
      handedOut.add(p).add(p + 1);
      return p;
    }
  }
  throw new Error(`could not find two adjacent free ports between ${PORTS.from} and ${PORTS.to} on ${HOST}`);
}

export function onPath(exe: string, ...extra: string[]): string {
  for (const d of [...(process.env.PATH ?? '').split(path.delimiter), ...extra]) {
    if (d && fs.existsSync(path.join(d, exe))) return path.join(d, exe);
  }
  throw new Error(`${exe} not found: run npm run bootstrap`);
}

export function osUser(name: string): { uid: number; gid: number } {
  const line = fs
    .readFileSync('/etc/passwd', 'utf8')
    .split('\n')
    .find((l) => l.startsWith(`${name}:`));
  if (!line) throw new Error(`OS user ${name} not found: run npm run bootstrap (installs postgresql)`);
  const [, , uid, gid] = line.split(':');
  return { uid: Number(uid), gid: Number(gid) };
}
