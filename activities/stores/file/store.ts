// The embedded local store: one folder per secret with versioned JSON files, a `current` pointer and pending files.
import { randomBytes } from 'node:crypto';
import * as fsp from 'node:fs/promises';
import * as os from 'node:os';
import * as nodePath from 'node:path';
import { RotatorError } from '../../../src/kernel/errors';
import { claimPendingSlot, type StalePendingOptions } from '../stale-pending';
import { movedSincePublish, versionGone } from '../store-errors';
import type { Pending, PromoteResult, SecretStore, SecretValue, Versioned } from '../../types';
import { CAPABILITIES } from './index';

export interface FileStoreOptions extends StalePendingOptions {
  dir: string;
  /** How long promote/rollback wait for another process's lock before giving up (TRANSIENT, so the activity retries). */
  lockTimeoutMs?: number;
}

/**
 * The `current` file: which version readers get, plus what the last promote or rollback did, so a retried one
 * recognises its own work. Replaced by rename, so a reader sees the old pointer or the new one, never half of one.
 */
interface Pointer {
  version: string | null;
  rotation_id?: string;
  phase?: 'promoted' | 'rolled-back';
  previous_version?: string | null;
}

/** The `pending.json` file: one slot per secret, the rotation holding it, and the version it was staged against. */
interface PendingFile {
  rotation_id: string;
  base_version: string | null;
  value: SecretValue;
}

const SEGMENT = /^[A-Za-z0-9_-][A-Za-z0-9_.-]{0,127}$/;
/** Names the store itself uses inside a secret's folder: a nested secret may not take them. */
const RESERVED = /^(current|lock|v\d+\.json|pending\.json|pending-.*)$/;
const PENDING_FILE = 'pending.json';
const FILE_MODE = 0o600;
const DIR_MODE = 0o700;

function versionFile(version: string): string {
  return `v${version.padStart(6, '0')}.json`;
}

function errnoOf(err: unknown): string | undefined {
  return (err as NodeJS.ErrnoException | undefined)?.code;
}

/** fs errors carry the path (never file contents); the errno decides the code. */
function fsError(err: unknown, action: string): RotatorError {
  if (err instanceof RotatorError) return err;
  const code = errnoOf(err);
  if (code === 'EACCES' || code === 'EPERM') return new RotatorError('PERMISSION_DENIED', `${action}: ${code}`);
  return new RotatorError('TRANSIENT', `${action}: ${code ?? (err instanceof Error ? err.name : 'error')}`);
}

export class FileStore implements SecretStore {
  readonly capabilities = CAPABILITIES;
  private readonly root: string;

  constructor(private readonly options: FileStoreOptions) {
    this.root = nodePath.resolve(options.dir);
  }

  /** `app/db` → `<dir>/app/db`; every segment must be a plain name, so no path can leave the store's folder. */
  private folder(path: string): string {
    const segments = path.replace(/^\/+|\/+$/g, '').split('/');
    if (segments.length === 0 || !segments.every((s) => SEGMENT.test(s) && !RESERVED.test(s))) {
      throw new RotatorError(
        'CONFIG_INVALID',
        `expected a path of plain names separated by /, got ${JSON.stringify(path)}`,
        'path',
      );
    }
    return nodePath.join(this.root, ...segments);
  }

  private async readJson<T>(file: string, what: string): Promise<T | null> {
    let text: string;
    try {
      text = await fsp.readFile(file, 'utf8');
    } catch (err) {
      if (errnoOf(err) === 'ENOENT') return null;
      throw fsError(err, `read ${what}`);
    }
    try {
      return JSON.parse(text) as T;
    } catch {
      // JSON.parse quotes its input in the message: say where, never what.
      throw new RotatorError('CONFLICT', `${what} (${file}) is not valid JSON (the content is not shown)`);
    }
  }

  /**
   * Temp file in the same folder, fsync, rename over the target, fsync the folder: all or nothing, even on power loss.
   * `exclusive` links instead of renaming, which fails with EEXIST when the target exists: a create-only write.
   */
  private async writeAtomic(file: string, data: unknown, what: string, exclusive = false): Promise<void> {
    const dir = nodePath.dirname(file);
    const temp = nodePath.join(dir, `.tmp-${process.pid}-${randomBytes(6).toString('hex')}`);
    try {
      await fsp.mkdir(dir, { recursive: true, mode: DIR_MODE });
      const handle = await fsp.open(temp, 'wx', FILE_MODE);
      try {
        await handle.writeFile(JSON.stringify(data) + '\n');
        await handle.sync();
      } finally {
        await handle.close();
      }
      if (exclusive) {
        await fsp.link(temp, file);
        await fsp.rm(temp);
      } else {
        await fsp.rename(temp, file);
      }
      await this.syncDir(dir);
    } catch (err) {
      await fsp.rm(temp, { force: true }).catch(() => undefined);
      if (exclusive && errnoOf(err) === 'EEXIST') throw new RotatorError('CONFLICT', `${what} exists already`);
      throw fsError(err, `write ${what}`);
    }
  }

  private async syncDir(dir: string): Promise<void> {
    const handle = await fsp.open(dir, 'r');
    try {
      await handle.sync();
    } finally {
      await handle.close();
    }
  }

  private async pointer(folder: string, path: string): Promise<Pointer | null> {
    return this.readJson<Pointer>(nodePath.join(folder, 'current'), `the current pointer of ${path}`);
  }

  /**
   * One promote or rollback per secret at a time, across processes: the lock file is created with O_EXCL, so only
   * one creator wins. A lock whose holder on this host has died is broken, so a crash does not wedge the secret.
   */
  private async withLock<T>(folder: string, path: string, work: () => Promise<T>): Promise<T> {
    await fsp.mkdir(folder, { recursive: true, mode: DIR_MODE }).catch((err: unknown) => {
      throw fsError(err, `create the folder of ${path}`);
    });
    const lock = nodePath.join(folder, 'lock');
    const mine = JSON.stringify({ pid: process.pid, host: os.hostname(), nonce: randomBytes(8).toString('hex') });
    const deadline = Date.now() + (this.options.lockTimeoutMs ?? 10_000);
    for (let delay = 5; ; delay = Math.min(delay * 2, 200)) {
      try {
        const handle = await fsp.open(lock, 'wx', FILE_MODE);
        try {
          await handle.writeFile(mine);
        } finally {
          await handle.close();
        }
        break;
      } catch (err) {
        if (errnoOf(err) !== 'EEXIST') throw fsError(err, `lock ${path}`);
      }
      if (await this.breakIfAbandoned(lock)) continue;
      if (Date.now() > deadline) throw new RotatorError('TRANSIENT', `${path} is locked by another rotator process (${lock})`);
      await new Promise((resolve) => setTimeout(resolve, delay));
    }
    try {
      return await work();
    } finally {
      // Only remove the lock if it is still ours (it could only have been broken if we had died, but be exact).
      const held = await fsp.readFile(lock, 'utf8').catch(() => null);
      if (held === mine) await fsp.rm(lock, { force: true });
    }
  }

  /** True when the lock's holder is a dead process on this host and we removed exactly that lock. */
  private async breakIfAbandoned(lock: string): Promise<boolean> {
    const text = await fsp.readFile(lock, 'utf8').catch(() => null);
    if (text === null) return true; // released meanwhile: try again at once
    let holder: { pid?: number; host?: string };
    try {
      holder = JSON.parse(text) as { pid?: number; host?: string };
    } catch {
      return false; // being written right now
    }
    if (holder.host !== os.hostname() || typeof holder.pid !== 'number' || isAlive(holder.pid)) return false;
    // Rename first, then check it was the lock we judged: another breaker may have replaced it in between.
    const aside = `${lock}.abandoned-${randomBytes(6).toString('hex')}`;
    try {
      await fsp.rename(lock, aside);
    } catch {
      return true;
    }
    const moved = await fsp.readFile(aside, 'utf8').catch(() => null);
    if (moved !== text) {
      // We took a live lock: put it back (link fails if a new one exists, which then is the rightful one).
      await fsp.link(aside, lock).catch(() => undefined);
    }
    await fsp.rm(aside, { force: true });
    return true;
  }

  async readCurrent(path: string): Promise<Versioned<SecretValue> | null> {
    const folder = this.folder(path);
    const ptr = await this.pointer(folder, path);
    if (!ptr?.version) return null;
    const value = await this.readJson<SecretValue>(
      nodePath.join(folder, versionFile(ptr.version)),
      `version ${ptr.version} of ${path}`,
    );
    if (!value)
      throw new RotatorError('NOT_FOUND', `${path}: the current pointer names version ${ptr.version}, which is missing`);
    return { version: ptr.version, value };
  }

  /** When the current version's file was written. */
  async publishedAt(path: string): Promise<number | null> {
    const folder = this.folder(path);
    const ptr = await this.pointer(folder, path);
    if (!ptr?.version) return null;
    const stat = await fsp.stat(nodePath.join(folder, versionFile(ptr.version))).catch(() => null);
    return stat ? stat.mtimeMs : null;
  }

  async readVersion(path: string, version: string): Promise<SecretValue | null> {
    if (!/^[1-9]\d{0,8}$/.test(version)) return null;
    return this.readJson<SecretValue>(nodePath.join(this.folder(path), versionFile(version)), `version ${version} of ${path}`);
  }

  private pendingFile(path: string): Promise<PendingFile | null> {
    return this.readJson<PendingFile>(nodePath.join(this.folder(path), PENDING_FILE), `pending of ${path}`);
  }

  async stagePending(path: string, rotationId: string, value: SecretValue, baseVersion: string | null): Promise<void> {
    const file = nodePath.join(this.folder(path), PENDING_FILE);
    const existing = await this.pendingFile(path);
    const record: PendingFile = { rotation_id: rotationId, base_version: baseVersion, value };
    await claimPendingSlot(this.options, {
      path,
      rotationId,
      holder: existing ? String(existing.rotation_id) : null,
      where: file,
      fields: { pendingFile: file },
      howToRemove: `delete ${file}`,
      create: () => this.writeAtomic(file, record, `pending of ${path}`, true), // a link: fails if the file exists
      overwrite: () => this.writeAtomic(file, record, `pending of ${path}`),
      ours: async () => (await this.readPending(path, rotationId)) !== null,
      other: () => this.otherPending(path, rotationId),
    });
  }

  async readPending(path: string, rotationId: string): Promise<Pending | null> {
    const found = await this.pendingFile(path);
    if (found?.rotation_id !== rotationId) return null;
    return { value: found.value, baseVersion: found.base_version ?? null };
  }

  async otherPending(path: string, rotationId: string): Promise<string | null> {
    const found = await this.pendingFile(path);
    return found && found.rotation_id !== rotationId ? String(found.rotation_id) : null;
  }

  async discardPending(path: string, rotationId: string): Promise<void> {
    const found = await this.pendingFile(path);
    if (found?.rotation_id !== rotationId) return; // someone else's (or nothing): not ours to remove
    await fsp.rm(nodePath.join(this.folder(path), PENDING_FILE), { force: true }).catch((err: unknown) => {
      throw fsError(err, `discard pending of ${path}`);
    });
  }

  async publishedBy(path: string, rotationId: string): Promise<PromoteResult | null> {
    const ptr = await this.pointer(this.folder(path), path);
    if (ptr?.rotation_id !== rotationId || ptr.phase !== 'promoted' || !ptr.version) return null;
    return { version: ptr.version, previousVersion: ptr.previous_version ?? null };
  }

  private async nextVersion(folder: string): Promise<string> {
    const names = await fsp.readdir(folder);
    const numbers = names
      .map((n) => /^v(\d+)\.json$/.exec(n))
      .filter((m): m is RegExpExecArray => m !== null)
      .map((m) => Number(m[1]));
    return String(Math.max(0, ...numbers) + 1);
  }

  async promote(path: string, rotationId: string, expectedCurrent: string | null): Promise<PromoteResult> {
    const folder = this.folder(path);
    return this.withLock(folder, path, async () => {
      const published = await this.publishedBy(path, rotationId);
      if (published) return published;
      const ptr = await this.pointer(folder, path);
      const pending = await this.readPending(path, rotationId);
      if (!pending) throw new RotatorError('NOT_FOUND', `no pending credential of this rotation at ${path}`);
      const current = ptr?.version ?? null;
      if (current !== expectedCurrent) {
        throw new RotatorError(
          'CONFLICT',
          `${path} changed during rotation: expected version ${expectedCurrent ?? '(none)'}, found ${current ?? '(none)'}`,
        );
      }
      // A crash between writing the version and the pointer leaves an unreferenced file: harmless, never reused.
      const version = await this.nextVersion(folder);
      await this.writeAtomic(nodePath.join(folder, versionFile(version)), pending.value, `version ${version} of ${path}`);
      await this.writeAtomic(
        nodePath.join(folder, 'current'),
        { version, rotation_id: rotationId, phase: 'promoted', previous_version: expectedCurrent } satisfies Pointer,
        `the current pointer of ${path}`,
      );
      return { version, previousVersion: expectedCurrent };
    });
  }

  async rollback(path: string, rotationId: string, versions: { toVersion: string | null; fromVersion: string }): Promise<void> {
    const folder = this.folder(path);
    await this.withLock(folder, path, async () => {
      const ptr = await this.pointer(folder, path);
      if (ptr?.rotation_id === rotationId && ptr.phase === 'rolled-back') return;
      const current = ptr?.version ?? null;
      if (current !== versions.fromVersion) {
        throw movedSincePublish(path, current);
      }
      if (versions.toVersion !== null && !(await this.readVersion(path, versions.toVersion))) {
        throw versionGone(path, versions.toVersion);
      }
      // Readers go through the pointer, so moving it back restores the old value without a new version;
      // a null version means "no current value", as before this rotation.
      await this.writeAtomic(
        nodePath.join(folder, 'current'),
        {
          version: versions.toVersion,
          rotation_id: rotationId,
          phase: 'rolled-back',
          previous_version: versions.fromVersion,
        } satisfies Pointer,
        `the current pointer of ${path}`,
      );
    });
  }

  async close(): Promise<void> {}
}

function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return errnoOf(err) === 'EPERM'; // exists, owned by someone else
  }
}
