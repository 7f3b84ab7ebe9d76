// A SOPS-encrypted YAML/JSON file in a git repository as a store. Each secret is the mapping at a key path of the
// file. Versions are the branch's commits: a secret's current version is the commit the branch is at (check-and-set
// is that commit: a promote pushes a child of it, so any concurrent push turns it into a CONFLICT that changes
// nothing). A promote or rollback is one commit that changes only the rotated keys (`sops set`/`sops unset`, so
// comments, order and every other key stay), re-encrypted by sops with the file's own recipients and pushed. The value
// a rotation replaced stays under `<previous_key>/<path>` until the next rotation. A pending value is no commit on the
// branch: it is a root commit under refs/rotator/pending/…, holding the value encrypted to the same recipients, pushed
// create-only, so of two rotations staging at once exactly one gets it. See docs/sops.md.
import { randomBytes } from 'node:crypto';
import * as fsp from 'node:fs/promises';
import * as os from 'node:os';
import * as nodePath from 'node:path';
import { parse as parseYaml } from 'yaml';
import { RotatorError } from '../../../src/kernel/errors';
import { claimPendingSlot, type StalePendingOptions } from '../stale-pending';
import { movedSincePublish, versionGone } from '../store-errors';
import type { Pending, PromoteResult, SecretStore, SecretValue, Versioned } from '../../types';
import { CAPABILITIES, COMMIT, pathKeys, type SopsConfig } from './index';
import { run, type RunResult } from './run';

export type SopsStoreOptions = Omit<SopsConfig, 'type' | 'stale_pending'> & StalePendingOptions;

type Doc = Record<string, unknown>;

interface PendingRecord {
  rotation_id: string;
  base_version: string | null;
  value: SecretValue;
}

/** What a commit rotator made says about itself, in trailers (never a value). */
interface Marks {
  secret?: string;
  rotation?: string;
  phase?: string;
  previous?: string;
}

const PENDING_FILE = 'pending.json';
/** How many decrypted commits (of the file, of pending refs) a store keeps in memory. */
const DECRYPTED_KEPT = 8;
const REMOTE = 'origin';

/** One operation at a time per local clone, in this process (git's index and the work tree are shared). */
const QUEUES = new Map<string, Promise<unknown>>();

function isMapping(v: unknown): v is Doc {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

function marksOf(message: string): Marks {
  const trailer = (name: string) => new RegExp(`^${name}: (.+)$`, 'm').exec(message)?.[1]?.trim();
  return {
    secret: trailer('Rotator-Secret'),
    rotation: trailer('Rotator-Rotation'),
    phase: trailer('Rotator-Phase'),
    previous: trailer('Rotator-Previous-Version'),
  };
}

/** URLs with their user information (`scheme://user:secret@host`) shown as `scheme://***@host`. */
export function redactUrls(text: string): string {
  return text.replace(/([a-z][a-z0-9+.-]*:\/\/)[^/@\s]+@/gi, '$1***@');
}

/** `sops set`'s index: `["apps"]["orders"]["db"]`. */
function sopsIndex(keys: ReadonlyArray<string>): string {
  return keys.map((k) => `[${JSON.stringify(k)}]`).join('');
}

export class SopsStore implements SecretStore {
  readonly capabilities = CAPABILITIES;
  private readonly format: 'yaml' | 'json';
  private readonly remote: string;
  private dir: string | null = null;
  private ready: Promise<string> | null = null;
  private ownsDir = false;

  constructor(private readonly options: SopsStoreOptions) {
    this.format = options.file.endsWith('.json') ? 'json' : 'yaml';
    // A remote on disk is taken relative to where rotator runs, not to the clone.
    this.remote = /^[a-z][a-z0-9+.-]*:\/\/|^[^/]+@[^/]+:/.test(options.remote)
      ? options.remote
      : nodePath.resolve(options.remote);
  }

  /** The remote for messages: a password or token written into its URL (`https://user:token@host/…`) is not shown. */
  private get shownRemote(): string {
    return redactUrls(this.options.remote);
  }

  /** `<file> on <branch> of <remote>`: where, for messages. */
  private get where(): string {
    return `${this.options.file} on ${this.options.branch} of ${this.shownRemote}`;
  }

  private keys(path: string): string[] {
    const keys = pathKeys(path, this.options.previous_key);
    if (typeof keys === 'string') throw new RotatorError('CONFIG_INVALID', keys, 'path');
    return keys;
  }

  /** The pending ref of a path: the file and the path each one ref component (`/` → %2F), so no two collide. */
  private pendingRef(path: string): string {
    const enc = (s: string) => s.replace(/%/g, '%25').replace(/\//g, '%2F');
    return `refs/rotator/pending/${enc(this.options.file)}/${enc(path)}`;
  }

  // --- processes ------------------------------------------------------------------------------------------------

  private async git(args: ReadonlyArray<string>, input?: string): Promise<RunResult> {
    const dir = await this.clone();
    return this.gitIn(dir, args, input);
  }

  private gitIn(dir: string, args: ReadonlyArray<string>, input?: string): Promise<RunResult> {
    const { name, email } = this.options.author;
    return run(
      this.options.git,
      ['-c', `user.name=${name}`, '-c', `user.email=${email}`, '-c', 'commit.gpgsign=false', ...args],
      {
        cwd: dir,
        input,
        env: {
          ...process.env,
          GIT_TERMINAL_PROMPT: '0',
          GIT_CONFIG_NOSYSTEM: '1',
          GIT_AUTHOR_NAME: name,
          GIT_AUTHOR_EMAIL: email,
          GIT_COMMITTER_NAME: name,
          GIT_COMMITTER_EMAIL: email,
        },
      },
    );
  }

  /** git that must succeed; its stderr (git's own words, never file contents) names what failed. */
  private async gitOk(args: ReadonlyArray<string>, step: string, input?: string): Promise<string> {
    const r = await this.git(args, input);
    if (r.code !== 0) throw this.gitError(r, step);
    return r.stdout;
  }

  private gitError(r: RunResult, step: string): RotatorError {
    const line = r.stderr
      .split('\n')
      .map((l) => l.trim())
      .filter(Boolean)
      .slice(-2)
      .map(redactUrls)
      .join(' / ')
      .slice(0, 300);
    return new RotatorError('TRANSIENT', `git ${step} for ${this.where} failed (exit ${r.code}): ${line}`);
  }

  private sopsEnv(): NodeJS.ProcessEnv {
    const env: NodeJS.ProcessEnv = { ...process.env, SOPS_DISABLE_VERSION_CHECK: '1' };
    if (this.options.age_key_file) env.SOPS_AGE_KEY_FILE = nodePath.resolve(this.options.age_key_file);
    return env;
  }

  /**
   * Runs sops. Its stderr is never shown: a parser's complaint could quote the decrypted document. Only a known
   * cause is named.
   */
  private async sops(args: ReadonlyArray<string>, step: string, input?: string): Promise<string> {
    const dir = await this.clone();
    const r = await run(this.options.sops, args, { cwd: dir, env: this.sopsEnv(), input });
    if (r.code === 0) return r.stdout;
    const err = r.stderr;
    if (
      /failed to get the data key|no identity matched|could not decrypt|age: no identities|failed to load age identities/i.test(
        err,
      )
    ) {
      return Promise.reject(
        new RotatorError(
          'PERMISSION_DENIED',
          `sops could not ${step} ${this.where}: none of its recipients' keys is available (age_key_file / SOPS_AGE_KEY_FILE)`,
        ),
      );
    }
    if (/MAC mismatch/i.test(err)) {
      return Promise.reject(
        new RotatorError(
          'CONFLICT',
          `sops could not ${step} ${this.where}: its MAC does not match (the file was edited without sops)`,
        ),
      );
    }
    if (/sops metadata not found|no sops metadata/i.test(err)) {
      return Promise.reject(new RotatorError('CONFLICT', `${this.where} is not a SOPS-encrypted file (no sops metadata)`));
    }
    return Promise.reject(
      new RotatorError('TRANSIENT', `sops could not ${step} ${this.where} (exit ${r.code}; its output is not shown)`),
    );
  }

  // --- the local clone ----------------------------------------------------------------------------------------

  private clone(): Promise<string> {
    this.ready ??= this.makeClone().catch((err: unknown) => {
      this.ready = null;
      throw err;
    });
    return this.ready;
  }

  private async makeClone(): Promise<string> {
    let dir: string;
    if (this.options.checkout) {
      dir = nodePath.resolve(this.options.checkout);
      await fsp.mkdir(dir, { recursive: true, mode: 0o700 });
    } else {
      dir = await fsp.mkdtemp(nodePath.join(os.tmpdir(), 'rotator-sops-'));
      this.ownsDir = true;
    }
    this.dir = dir;
    const init = await this.gitIn(dir, ['init', '--quiet']);
    if (init.code !== 0) throw this.gitError(init, 'init');
    const url = await this.gitIn(dir, ['remote', 'get-url', REMOTE]);
    const set = await this.gitIn(
      dir,
      url.code === 0 ? ['remote', 'set-url', REMOTE, this.remote] : ['remote', 'add', REMOTE, this.remote],
    );
    if (set.code !== 0) throw this.gitError(set, 'remote');
    await fsp.mkdir(nodePath.join(dir, '.git', 'rotator-tmp'), { recursive: true, mode: 0o700 });
    await fsp.writeFile(nodePath.join(dir, '.git', 'rotator-tmp', 'empty.sops.yaml'), '');
    return dir;
  }

  /** Runs `work` alone on this clone (in this process); every operation starts from a fresh fetch. */
  private serial<T>(work: () => Promise<T>): Promise<T> {
    const key = this.options.checkout ? nodePath.resolve(this.options.checkout) : `store:${String(this.id)}`;
    const before = QUEUES.get(key) ?? Promise.resolve();
    const mine = before
      .catch(() => undefined)
      .then(async () => {
        await this.fetch();
        return work();
      });
    const tail = mine.catch(() => undefined);
    QUEUES.set(key, tail);
    void tail.then(() => {
      if (QUEUES.get(key) === tail) QUEUES.delete(key);
    });
    return mine;
  }

  private readonly id = randomBytes(6).toString('hex');

  private async fetch(): Promise<void> {
    const branch = this.options.branch;
    const r = await this.git([
      'fetch',
      '--quiet',
      '--prune',
      '--no-tags',
      REMOTE,
      `+refs/heads/${branch}:refs/remotes/${REMOTE}/${branch}`,
      '+refs/rotator/pending/*:refs/rotator/pending/*',
    ]);
    if (r.code === 0) return;
    if (/couldn't find remote ref|could not find remote ref/i.test(r.stderr)) {
      throw new RotatorError('NOT_FOUND', `branch ${branch} is not on ${this.shownRemote} (the SOPS store's branch)`);
    }
    throw this.gitError(r, 'fetch');
  }

  /** The commit the branch is at (as last fetched). */
  private async head(): Promise<string> {
    return (
      await this.gitOk(['rev-parse', '--verify', `refs/remotes/${REMOTE}/${this.options.branch}^{commit}`], 'rev-parse')
    ).trim();
  }

  // --- reading the file ---------------------------------------------------------------------------------------

  /**
   * Decrypts the file as it is in `commit`; null when the commit has no such file. A commit never changes, so the
   * last few are kept decrypted in this process's memory (no sops run for each read of the same version).
   */
  private async documentAt(commit: string): Promise<Doc | null> {
    const key = `doc:${commit}`;
    if (this.decrypted.has(key)) return this.decrypted.get(key)!;
    const doc = await this.decryptDocument(commit);
    this.remember(key, doc);
    return doc;
  }

  private readonly decrypted = new Map<string, Doc | null>();

  private remember(key: string, doc: Doc | null): void {
    this.decrypted.delete(key);
    this.decrypted.set(key, doc);
    while (this.decrypted.size > DECRYPTED_KEPT) this.decrypted.delete(this.decrypted.keys().next().value!);
  }

  private async decryptDocument(commit: string): Promise<Doc | null> {
    const shown = await this.git(['show', `${commit}:${this.options.file}`]);
    if (shown.code !== 0) {
      if (/does not exist|exists on disk, but not in/i.test(shown.stderr)) return null;
      throw this.gitError(shown, 'show');
    }
    return this.decrypt(shown.stdout, this.format, 'decrypt');
  }

  /** Decrypts encrypted text (a blob of the repository): it goes to sops through a file of the clone's .git. */
  private async decrypt(encrypted: string, format: 'yaml' | 'json', step: string): Promise<Doc> {
    const dir = await this.clone();
    const file = nodePath.join(dir, '.git', 'rotator-tmp', `${randomBytes(8).toString('hex')}.${format}`);
    await fsp.writeFile(file, encrypted, { mode: 0o600 });
    try {
      const out = await this.sops(['decrypt', '--input-type', format, '--output-type', 'json', file], step);
      let doc: unknown;
      try {
        doc = JSON.parse(out);
      } catch {
        doc = undefined;
      }
      if (!isMapping(doc))
        throw new RotatorError('CONFLICT', `${this.where} does not decrypt to a mapping (the content is not shown)`);
      return doc;
    } finally {
      await fsp.rm(file, { force: true });
    }
  }

  private valueIn(doc: Doc | null, keys: ReadonlyArray<string>, path: string): SecretValue | null {
    let node: unknown = doc;
    for (const k of keys) {
      if (!isMapping(node) || !(k in node)) return null;
      node = node[k];
    }
    if (node === null || node === undefined) return null;
    if (!isMapping(node)) {
      throw new RotatorError('CONFLICT', `${path} in ${this.where} is not a mapping of fields (the value is not shown)`);
    }
    return structuredClone(node) as SecretValue; // the kept document stays as decrypted
  }

  /** The current value and version: the branch's commit when the path holds a value, else no version at all. */
  private async current(
    path: string,
  ): Promise<{ head: string; version: string | null; value: SecretValue | null; doc: Doc | null }> {
    const head = await this.head();
    const doc = await this.documentAt(head);
    if (!doc)
      throw new RotatorError(
        'NOT_FOUND',
        `${this.options.file} is not on ${this.options.branch} of ${this.shownRemote}; create it with sops first`,
      );
    const value = this.valueIn(doc, this.keys(path), path);
    return { head, version: value ? head : null, value, doc };
  }

  async readCurrent(path: string): Promise<Versioned<SecretValue> | null> {
    this.keys(path);
    return this.serial(async () => {
      const { version, value } = await this.current(path);
      return version && value ? { version, value } : null;
    });
  }

  async readVersion(path: string, version: string): Promise<SecretValue | null> {
    const keys = this.keys(path);
    if (!COMMIT.test(version)) return null;
    return this.serial(async () => {
      // Only commits of the branch are versions (a pending ref's commit is not).
      const known = await this.git(['merge-base', '--is-ancestor', version, `refs/remotes/${REMOTE}/${this.options.branch}`]);
      if (known.code !== 0) return null;
      return this.valueIn(await this.documentAt(version), keys, path);
    });
  }

  /** When the commit that last wrote the path's value was made (the branch's last commit of the file otherwise). */
  async publishedAt(path: string): Promise<number | null> {
    this.keys(path);
    return this.serial(async () => {
      const { version } = await this.current(path);
      if (!version) return null;
      const mine = (await this.marked(path, 'Rotator-Secret: ' + path)).find((c) => c.marks.secret === path);
      const at = mine
        ? mine.time
        : Number((await this.gitOk(['log', '-1', '--format=%ct', version, '--', this.options.file], 'log')).trim());
      return at * 1000;
    });
  }

  /** Commits of the branch touching the file whose message contains `needle`, newest first, with their marks. */
  private async marked(path: string, needle: string): Promise<Array<{ commit: string; time: number; marks: Marks }>> {
    const out = await this.gitOk(
      [
        'log',
        '--format=%H%x1f%ct%x1f%B%x1e',
        '--fixed-strings',
        `--grep=${needle}`,
        `refs/remotes/${REMOTE}/${this.options.branch}`,
        '--',
        this.options.file,
      ],
      'log',
    );
    return out
      .split('\x1e')
      .map((r) => r.trim())
      .filter(Boolean)
      .map((r) => {
        const [commit, time, message] = r.split('\x1f');
        return { commit, time: Number(time), marks: marksOf(message ?? '') };
      })
      .filter((c) => c.marks.secret === path);
  }

  // --- pending ------------------------------------------------------------------------------------------------

  /** The pending ref's commit and the rotation it names (from its message), or null. */
  private async pendingHolder(path: string): Promise<{ commit: string; rotation: string } | null> {
    const ref = this.pendingRef(path);
    const r = await this.git(['rev-parse', '--verify', '--quiet', `${ref}^{commit}`]);
    if (r.code !== 0) return null;
    const commit = r.stdout.trim();
    const message = await this.gitOk(['show', '-s', '--format=%B', commit], 'show');
    return { commit, rotation: marksOf(message).rotation ?? '(unknown)' };
  }

  private async pendingRecord(commit: string): Promise<PendingRecord> {
    const key = `pending:${commit}`;
    let doc = this.decrypted.get(key);
    if (!doc) {
      const shown = await this.gitOk(['show', `${commit}:${PENDING_FILE}`], 'show');
      doc = await this.decrypt(shown, 'json', 'decrypt the pending value of');
      this.remember(key, doc);
    }
    return structuredClone(doc) as unknown as PendingRecord;
  }

  /** The file's recipients, read from its (clear) sops metadata at the branch's commit. */
  private async recipients(): Promise<string[]> {
    const head = await this.head();
    const text = await this.gitOk(['show', `${head}:${this.options.file}`], 'show');
    let meta: unknown;
    try {
      meta = (parseYaml(text) as Doc | null)?.sops;
    } catch {
      meta = undefined;
    }
    const age = isMapping(meta) && Array.isArray(meta.age) ? meta.age : [];
    const recipients = age
      .map((a: unknown) => (isMapping(a) && typeof a.recipient === 'string' ? a.recipient : null))
      .filter((a): a is string => a !== null);
    if (recipients.length === 0) {
      throw new RotatorError(
        'UNSUPPORTED',
        `${this.where} has no age recipients; the sops store keeps pending values encrypted to age recipients only`,
      );
    }
    return recipients;
  }

  /** A root commit holding the record, encrypted by sops to the file's own recipients. */
  private async pendingCommit(path: string, record: PendingRecord): Promise<string> {
    const dir = await this.clone();
    const file = nodePath.join(dir, '.git', 'rotator-tmp', `${randomBytes(8).toString('hex')}.json`);
    // The plain record never touches the disk: sops reads it from stdin (no file argument).
    const encrypted = await this.sops(
      [
        // An empty config: a .sops.yaml of the repository whose rules do not match this file would refuse it.
        '--config',
        nodePath.join(dir, '.git', 'rotator-tmp', 'empty.sops.yaml'),
        'encrypt',
        '--age',
        (await this.recipients()).join(','),
        '--input-type',
        'json',
        '--output-type',
        'json',
        '--filename-override',
        file,
      ],
      'encrypt the pending value of',
      JSON.stringify(record),
    );
    const blob = (await this.gitOk(['hash-object', '-w', '--stdin'], 'hash-object', encrypted)).trim();
    const tree = (await this.gitOk(['mktree'], 'mktree', `100644 blob ${blob}\t${PENDING_FILE}\n`)).trim();
    const message = `rotator: pending value of ${path} in ${this.options.file}\n\nRotator-Secret: ${path}\nRotator-Rotation: ${record.rotation_id}\nRotator-Phase: pending\n`;
    return (await this.gitOk(['commit-tree', tree, '-F', '-'], 'commit-tree', message)).trim();
  }

  /** Pushes `commit` to the pending ref only if the ref is at `expected` (absent: ''); false if it was not. */
  private async pushPending(path: string, commit: string, expected: string): Promise<boolean> {
    const ref = this.pendingRef(path);
    const r = await this.git([
      'push',
      '--quiet',
      '--porcelain',
      `--force-with-lease=${ref}:${expected}`,
      REMOTE,
      `${commit ? commit : ''}:${ref}`,
    ]);
    if (r.code === 0) return true;
    if (/stale info|\[rejected\]|rejected|already exists|fetch first|non-fast-forward/i.test(r.stdout + r.stderr)) return false;
    throw this.gitError(r, 'push');
  }

  async stagePending(path: string, rotationId: string, value: SecretValue, baseVersion: string | null): Promise<void> {
    this.keys(path);
    await this.serial(async () => {
      const holder = await this.pendingHolder(path);
      const ref = this.pendingRef(path);
      await claimPendingSlot(this.options, {
        path,
        rotationId,
        holder: holder?.rotation ?? null,
        where: `${ref} of ${this.shownRemote}`,
        fields: { pendingRef: ref },
        howToRemove: `delete it (git push ${this.shownRemote} :${ref})`,
        create: async () => {
          const commit = await this.pendingCommit(path, { rotation_id: rotationId, base_version: baseVersion, value });
          if (!(await this.pushPending(path, commit, ''))) {
            await this.fetch();
            const now = await this.pendingHolder(path);
            throw new RotatorError(
              'CONFLICT',
              `${path} has a pending credential of rotation ${now?.rotation ?? '(unknown)'} staged meanwhile (${ref})`,
            );
          }
        },
        overwrite: async () => {
          const commit = await this.pendingCommit(path, { rotation_id: rotationId, base_version: baseVersion, value });
          if (!(await this.pushPending(path, commit, holder?.commit ?? ''))) {
            throw new RotatorError('CONFLICT', `${path}: the pending ref ${ref} changed while it was being replaced`);
          }
        },
        ours: async () => {
          await this.fetch();
          return (await this.pendingHolder(path))?.rotation === rotationId;
        },
        other: async () => {
          await this.fetch();
          const now = await this.pendingHolder(path);
          return now && now.rotation !== rotationId ? now.rotation : null;
        },
      });
      await this.fetch();
    });
  }

  private async ownPending(path: string, rotationId: string): Promise<Pending | null> {
    const holder = await this.pendingHolder(path);
    if (holder?.rotation !== rotationId) return null;
    const record = await this.pendingRecord(holder.commit);
    return { value: record.value, baseVersion: record.base_version ?? null };
  }

  async readPending(path: string, rotationId: string): Promise<Pending | null> {
    this.keys(path);
    return this.serial(() => this.ownPending(path, rotationId));
  }

  async otherPending(path: string, rotationId: string): Promise<string | null> {
    this.keys(path);
    return this.serial(async () => {
      const holder = await this.pendingHolder(path);
      return holder && holder.rotation !== rotationId ? holder.rotation : null;
    });
  }

  async discardPending(path: string, rotationId: string): Promise<void> {
    this.keys(path);
    await this.serial(async () => {
      const holder = await this.pendingHolder(path);
      if (holder?.rotation !== rotationId) return; // someone else's (or nothing): not ours to remove
      // Deleted only if it is still our commit: a replacement pushed meanwhile is left alone.
      await this.pushPending(path, '', holder.commit);
    });
  }

  // --- promote and rollback -------------------------------------------------------------------------------------

  private async publishedByNow(path: string, rotationId: string): Promise<PromoteResult | null> {
    const commits = await this.marked(path, `Rotator-Rotation: ${rotationId}`);
    const ours = commits.filter((c) => c.marks.rotation === rotationId);
    if (ours.some((c) => c.marks.phase === 'rolled-back')) return null;
    const promoted = ours.find((c) => c.marks.phase === 'promoted');
    if (!promoted) return null;
    const previous = promoted.marks.previous;
    return { version: promoted.commit, previousVersion: previous && COMMIT.test(previous) ? previous : null };
  }

  async publishedBy(path: string, rotationId: string): Promise<PromoteResult | null> {
    this.keys(path);
    return this.serial(() => this.publishedByNow(path, rotationId));
  }

  /**
   * Writes one commit on top of `head` that sets (or, for null, removes) the path's value and its previous entry, and
   * pushes it as the branch's next commit. A push the remote refuses (someone pushed since `head`) is a CONFLICT and
   * nothing changes; the local commit is simply left behind.
   */
  private async commitValues(
    path: string,
    head: string,
    changes: { value: SecretValue | null; previous: SecretValue | null; hadPrevious: boolean },
    message: string,
  ): Promise<string> {
    const keys = this.keys(path);
    const previousKeys = [this.options.previous_key, ...keys];
    await this.gitOk(['checkout', '--quiet', '--force', '--detach', head], 'checkout');
    const file = this.options.file;
    // The value goes to sops on stdin: never on a command line, never in a file.
    if (changes.value) await this.sops(['set', '--value-stdin', file, sopsIndex(keys)], 'write', JSON.stringify(changes.value));
    else await this.unset(file, keys);
    if (changes.previous) {
      await this.sops(['set', '--value-stdin', file, sopsIndex(previousKeys)], 'write', JSON.stringify(changes.previous));
    } else if (changes.hadPrevious) {
      await this.unset(file, previousKeys);
    }
    await this.gitOk(['add', '--', file], 'add');
    await this.gitOk(['commit', '--quiet', '--no-verify', '--allow-empty', '-F', '-'], 'commit', message);
    const commit = await this.gitOk(['rev-parse', 'HEAD'], 'rev-parse');
    const pushed = await this.git(['push', '--quiet', '--porcelain', REMOTE, `HEAD:refs/heads/${this.options.branch}`]);
    if (pushed.code !== 0) {
      if (/\[rejected\]|non-fast-forward|fetch first|stale info/i.test(pushed.stdout + pushed.stderr)) {
        throw new RotatorError(
          'CONFLICT',
          `${path}: ${this.options.branch} of ${this.shownRemote} moved since this rotation read commit ${head} (a concurrent push); nothing was pushed`,
        );
      }
      throw this.gitError(pushed, 'push');
    }
    await this.fetch();
    return commit.trim();
  }

  private async unset(file: string, keys: ReadonlyArray<string>): Promise<void> {
    await this.sops(['unset', file, sopsIndex(keys)], 'write');
  }

  private trailers(path: string, rotationId: string, phase: string, previous: string | null): string {
    return `Rotator-Secret: ${path}\nRotator-Rotation: ${rotationId}\nRotator-Phase: ${phase}\nRotator-Previous-Version: ${previous ?? 'none'}\n`;
  }

  async promote(path: string, rotationId: string, expectedCurrent: string | null): Promise<PromoteResult> {
    const keys = this.keys(path);
    return this.serial(async () => {
      const published = await this.publishedByNow(path, rotationId);
      if (published) return published;
      const pending = await this.ownPending(path, rotationId);
      if (!pending) throw new RotatorError('NOT_FOUND', `no pending credential of this rotation at ${path}`);
      const { head, version, value, doc } = await this.current(path);
      if (version !== expectedCurrent) {
        throw new RotatorError(
          'CONFLICT',
          `${path} changed during rotation: expected version ${expectedCurrent ?? '(none)'}, found ${version ?? '(none)'}`,
        );
      }
      const hadPrevious = this.valueIn(doc, [this.options.previous_key, ...keys], path) !== null;
      const message =
        `rotator: rotate ${path} in ${this.options.file}\n\n` +
        `Rotation ${rotationId} made a new value current; the value it replaced stays under ${this.options.previous_key}.\n\n` +
        this.trailers(path, rotationId, 'promoted', expectedCurrent);
      const commit = await this.commitValues(path, head, { value: pending.value, previous: value, hadPrevious }, message);
      return { version: commit, previousVersion: expectedCurrent };
    });
  }

  async rollback(path: string, rotationId: string, versions: { toVersion: string | null; fromVersion: string }): Promise<void> {
    const keys = this.keys(path);
    await this.serial(async () => {
      const ours = await this.marked(path, `Rotator-Rotation: ${rotationId}`);
      if (ours.some((c) => c.marks.rotation === rotationId && c.marks.phase === 'rolled-back')) return;
      const { head, version, doc } = await this.current(path);
      if (version !== versions.fromVersion) throw movedSincePublish(path, version);
      let restored: SecretValue | null = null;
      let restoredPrevious: SecretValue | null = null;
      if (versions.toVersion !== null) {
        const known = await this.git(['merge-base', '--is-ancestor', versions.toVersion, head]);
        const then = known.code === 0 ? await this.documentAt(versions.toVersion) : null;
        restored = this.valueIn(then, keys, path);
        if (!restored) throw versionGone(path, versions.toVersion);
        restoredPrevious = this.valueIn(then, [this.options.previous_key, ...keys], path);
      }
      const hadPrevious = this.valueIn(doc, [this.options.previous_key, ...keys], path) !== null;
      const message =
        `rotator: roll back ${path} in ${this.options.file}\n\n` +
        `Rotation ${rotationId} is undone: the value of ${versions.toVersion ?? '(none)'} is current again.\n\n` +
        this.trailers(path, rotationId, 'rolled-back', versions.toVersion);
      await this.commitValues(path, head, { value: restored, previous: restoredPrevious, hadPrevious }, message);
    });
  }

  /**
   * For `rotator plan`: the file names an age recipient (pending values are encrypted to it) and the remote would take
   * a push (a dry run of a pending ref, which authenticates for receive-pack and writes nothing). What was found.
   */
  async canPush(): Promise<string> {
    return this.serial(async () => {
      const recipients = await this.recipients();
      const head = await this.head();
      await this.gitOk(['push', '--dry-run', '--quiet', REMOTE, `${head}:refs/rotator/preflight`], 'push --dry-run');
      return `${recipients.length} age recipient(s); a dry-run push was accepted`;
    });
  }

  async close(): Promise<void> {
    this.decrypted.clear();
    if (this.ownsDir && this.dir) {
      const dir = this.dir;
      this.dir = null;
      this.ready = null;
      await fsp.rm(dir, { recursive: true, force: true });
    }
  }
}
