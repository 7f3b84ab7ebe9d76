// The reader library: an application resolves `secret://` URIs through rotator's providers, keeps them for the
// secret's `cache.ttl`, refreshes them on `refresh_interval` or on rotator's signed reconnect event, and, when the
// database refuses the current credential, tries the others the store holds for it and says which one worked.
//
// Fallback order: current → pending → previous.
// - current: what the store publishes. Outside a rotation it is the only credential that works for single-user and
//   the right one for alternating-users. The cached one is tried first; on a refusal the store is read again, since
//   a cache older than the last rotation holds a login that may be revoked by now.
// - pending: a single-user rotation changes the database password before it promotes the new value (the window
//   workflows/rotate-secret.ts names); between the two the database accepts only the staged value, which readers of
//   the current version cannot see. In alternating-users the staged login becomes valid before promote, and after
//   promote it equals current (tried once only). A reader whose policy does not reach the pending path skips it.
// - previous: the version the current one replaced. alternating-users keeps that login valid until revoke (the spec's
//   dual-secret pattern); it is older than pending and about to be withdrawn, so it comes last.
// With `fallback: false` only the (cached) current value is tried. Only an authentication refusal falls back: an
// outage or a failing query is the caller's error, untouched. No value is logged or put in an error or event.
import type { RequestListener } from 'node:http';
import { z } from 'zod';
import { EngineRegistry } from '../../activities/leases';
import { ProviderRegistry } from '../../activities/registry';
import { resolveSecret, type ResolvedSecret, type ResolvedValue } from '../client/resolve';
import { loadConfig } from '../config/load';
import { LeaseSchema } from '../config/lifecycle';
import { DYNAMIC_PATH, readerLeased, type Config } from '../config/schema';
import { RotatorError } from '../kernel/errors';
import { listen, MAX_CONNECTIONS } from '../kernel/http-server';
import { logger } from '../kernel/log';
import { requireSecret } from '../config/plan';
import { describeSecretUri, parseSecretUri, type SecretUri } from '../kernel/uri';
import { isAuthFailure } from './auth-failure';
import { TtlCache, ttlOf } from './cache';
import { project, readStoreExtras } from './candidates';
import { ReaderLease, type HeldLease, type LeaseEvent, type LeaseStatus } from './lease';
import { createReconnectApp, type ReconnectEvent, type SigningKeys } from './webhook-receiver';

export type CredentialRole = 'current' | 'pending' | 'previous';

export interface Candidate {
  role: CredentialRole;
  /** The store's version; null for a pending value (not published) or a default. */
  version: string | null;
  value: ResolvedValue;
}

export interface Served<T> {
  result: T;
  /** Which credential the database accepted. */
  served: CredentialRole;
  version: string | null;
  /** The roles tried before it, refused. */
  refused: CredentialRole[];
}

export interface SecretChange {
  /** The URI without its default (a default may be a credential). */
  uri: string;
  secret: string;
  version: string | null;
  previousVersion: string | null;
  /** `reissue`: a dynamic secret this client leases got its next credential (the previous one still works). */
  reason: 'refresh' | 'reconnect' | 'refused' | 'reissue';
}

type Log = Pick<typeof logger, 'warn' | 'info'>;

/** Shorter signing keys are refused (a reconnect event then answers 503): anyone could sign with an empty one. */
export const MIN_SIGNING_KEY_LENGTH = 16;
/**
 * The reconnect handler keeps the signing key it read at least this long (a longer `cache.ttl` of its secret keeps it
 * longer), and a signature that does not match makes it read the key again at most once per this interval: a forged
 * request costs no store read. After the key is rotated, deliveries signed with the new one are refused (401, rotator
 * retries) until then.
 */
export const SIGNING_KEY_HOLD_MS = 60_000;
/** Event ids remembered for duplicate detection. */
const SEEN_EVENTS = 1000;

/** Every credential the store holds was refused. Names roles only; `cause` is the driver's last refusal. */
export class CredentialsRefused extends RotatorError {
  constructor(
    uri: string,
    readonly refused: CredentialRole[],
    override readonly cause: unknown,
  ) {
    super('PERMISSION_DENIED', `every credential the store holds was refused (tried ${refused.join(', ')})`, uri);
  }
}

/** The plain options, checked at the edge; the objects beside them (config, providers, clock) are typed. */
const PlainOptions = z
  .object({
    /** false: only the current credential is tried. */
    fallback: z.boolean().default(true),
    /** How far a reconnect event's timestamp may be from this clock (ms). */
    toleranceMs: z.number().int().min(1_000).max(3_600_000).default(300_000),
    configFile: z.string().min(1).optional(),
  })
  .strict();

export interface SecretClientOptions {
  /** A parsed config, or `configFile` to load one (with `env`, default process.env). */
  config?: Config;
  configFile?: string;
  env?: Readonly<Record<string, string | undefined>>;
  /** The stores to read from; by default the client makes (and closes) its own from the config's providers. */
  providers?: ProviderRegistry;
  fallback?: boolean;
  /**
   * The key reconnect events are signed with: a `secret://name/key` URI (read through this client's stores) or a
   * function returning it; at least MIN_SIGNING_KEY_LENGTH characters. The handler keeps it at least
   * SIGNING_KEY_HOLD_MS. Needed for `reconnectHandler()` and `listen()`.
   */
  signingKey?: string | (() => Promise<string> | string);
  toleranceMs?: number;
  /** Which errors of the caller's `use` mean "credential refused" (default: isAuthFailure). */
  isAuthFailure?: (err: unknown) => boolean;
  now?: () => number;
  log?: Log;
}

interface CacheKey {
  key: string;
  ref: SecretUri;
}

const keyOf = (ref: SecretUri): string => JSON.stringify([ref.secret, ref.key ?? null, ref.version ?? null, ref.default ?? null]);

const sameValue = (a: ResolvedValue, b: ResolvedValue): boolean => JSON.stringify(a) === JSON.stringify(b);

export class SecretClient {
  readonly fallback: boolean;
  private readonly config: Config;
  private readonly providers: ProviderRegistry;
  private readonly ownsProviders: boolean;
  private readonly cache: TtlCache<ResolvedSecret>;
  private readonly refs = new Map<string, SecretUri>();
  /** What each URI read as current before its present value: the previous candidate outside a rotation. */
  private readonly before = new Map<string, ResolvedSecret>();
  private readonly reading = new Map<string, Promise<ResolvedSecret>>();
  private readonly listeners = new Set<(change: SecretChange) => void>();
  private readonly timers = new Map<string, NodeJS.Timeout>();
  /** Per event id, its refresh (in flight or done): a copy of the delivery awaits it and is a duplicate. */
  private readonly seenEvents = new Map<string, Promise<void>>();
  private readonly servers = new Set<{ close(): Promise<void> }>();
  /** Dynamic secrets without publish: leased by this client itself, per secret name (src/reader/lease.ts). */
  private readonly leases = new Map<string, ReaderLease>();
  private engines: EngineRegistry | null = null;
  private readonly leaseListeners = new Set<(secret: string, event: LeaseEvent) => void>();
  private readonly now: () => number;
  private readonly log: Log;
  private readonly authFailure: (err: unknown) => boolean;
  private readonly toleranceMs: number;
  private closed = false;

  constructor(private readonly options: SecretClientOptions) {
    const plain = PlainOptions.safeParse({
      ...(options.fallback !== undefined ? { fallback: options.fallback } : {}),
      ...(options.toleranceMs !== undefined ? { toleranceMs: options.toleranceMs } : {}),
      ...(options.configFile !== undefined ? { configFile: options.configFile } : {}),
    });
    if (!plain.success) {
      const issue = plain.error.issues[0];
      throw new RotatorError('CONFIG_INVALID', issue.message, issue.path.join('.'));
    }
    if (!options.config === !plain.data.configFile)
      throw new RotatorError('CONFIG_INVALID', 'give either config or configFile', 'config');
    if (typeof options.signingKey === 'string') parseSecretUri(options.signingKey, 'signingKey');
    else if (options.signingKey !== undefined && typeof options.signingKey !== 'function')
      throw new RotatorError('CONFIG_INVALID', 'expected a secret://name/key URI or a function returning the key', 'signingKey');
    this.config = options.config ?? loadConfig(plain.data.configFile!, options.env ?? process.env);
    this.fallback = plain.data.fallback;
    this.toleranceMs = plain.data.toleranceMs;
    this.providers = options.providers ?? new ProviderRegistry(this.config.providers);
    this.ownsProviders = !options.providers;
    this.now = options.now ?? Date.now;
    this.cache = new TtlCache(this.now);
    this.log = options.log ?? logger;
    this.authFailure = options.isAuthFailure ?? isAuthFailure;
  }

  /** The URI's value, from the cache while it is younger than the secret's `cache.ttl`, else read from the store. */
  async get(uri: string): Promise<ResolvedSecret> {
    const { key, ref } = this.parse(uri);
    if (this.isLeased(ref)) return this.leased(key, ref);
    return this.cache.fresh(key) ?? this.read(key, ref, 'refresh');
  }

  /**
   * What this client's lease of a dynamic secret (type: dynamic, no publish:) stands at: current and previous
   * leases (ids, users and times; no password), renewals, re-issues, revoked leases. Null before its first `get`.
   */
  leaseStatus(secret: string): LeaseStatus | null {
    return this.leases.get(secret)?.status() ?? null;
  }

  /** Called with every step of the leases this client holds (issued, renewed, reissued, revoked, failed). */
  onLease(listener: (secret: string, event: LeaseEvent) => void): () => void {
    this.leaseListeners.add(listener);
    return () => this.leaseListeners.delete(listener);
  }

  /** The credentials the store holds for the URI now, in the order they are tried: current, pending, previous. */
  async credential(uri: string): Promise<Candidate[]> {
    const { key, ref } = this.parse(uri);
    if (this.isLeased(ref)) return this.leasedCandidates(key, ref);
    return this.candidates(key, ref, await this.read(key, ref, 'refused'));
  }

  /**
   * Runs `use` with the current credential; if it is refused (and fallback is on), with the other credentials the
   * store holds, in order, until one is accepted. Any other error of `use` is rethrown at once.
   */
  async withCredential<T>(uri: string, use: (value: ResolvedValue, candidate: Candidate) => Promise<T>): Promise<Served<T>> {
    const { key, ref } = this.parse(uri);
    const cached = this.isLeased(ref)
      ? await this.leased(key, ref)
      : (this.cache.fresh(key) ?? (await this.read(key, ref, 'refresh')));
    const first: Candidate = { role: 'current', version: cached.version, value: cached.value };
    try {
      return { result: await use(first.value, first), served: 'current', version: first.version, refused: [] };
    } catch (err) {
      if (!this.fallback || !this.authFailure(err)) throw err;
      this.log.info({ secret: ref.secret, uri: describeSecretUri(ref) }, 'current credential refused; reading the store again');
      const refused: CredentialRole[] = ['current'];
      const tried: ResolvedValue[] = [first.value];
      let last = err;
      // The store is read in several calls (current, then what is staged), and a rotation may end between them: its
      // pending value gone before this client read it, the new current one after. So when every value read was
      // refused and the store's current version has moved on since, the store is read once more.
      let readVersion: string | null | undefined;
      for (let round = 0; round < 2; round++) {
        const candidates = await this.credential(uri);
        if (round > 0 && candidates[0]?.version === readVersion) break;
        readVersion = candidates[0]?.version;
        for (const next of candidates) {
          if (tried.some((value) => sameValue(next.value, value))) continue;
          tried.push(next.value);
          try {
            return { result: await use(next.value, next), served: next.role, version: next.version, refused };
          } catch (retryErr) {
            if (!this.authFailure(retryErr)) throw retryErr;
            refused.push(next.role);
            last = retryErr;
          }
        }
      }
      throw new CredentialsRefused(describeSecretUri(ref), refused, last);
    }
  }

  /** Called with every change of a URI's value this client has seen; returns the unsubscribe. */
  onChange(listener: (change: SecretChange) => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  /** Reads every URI of `secret` this client holds again (every secret without one). */
  async refresh(secret?: string, reason: SecretChange['reason'] = 'refresh'): Promise<void> {
    const keys = this.cache.keys().filter((k) => secret === undefined || this.refs.get(k)?.secret === secret);
    await Promise.all(keys.map((k) => this.read(k, this.refs.get(k)!, reason)));
  }

  /**
   * An HTTP handler for rotator's webhook consumer: a delivery with a valid signature refreshes the secret it names,
   * then is answered 200; anything unauthenticated is 401 and changes nothing; a store that cannot be read is 503,
   * so rotator retries.
   */
  reconnectHandler(): RequestListener {
    const app = this.reconnectApp();
    const ready = app.ready();
    return (req, res) => {
      ready.then(
        () => app.routing(req, res),
        () => res.writeHead(503, { 'Content-Type': 'application/json' }).end(JSON.stringify({ status: 'unavailable' })),
      );
    };
  }

  /** Serves `reconnectHandler()` on host:port (default 127.0.0.1, a free port); closed with the client. */
  async listen(options: { host?: string; port?: number } = {}): Promise<{ url: string; close(): Promise<void> }> {
    const app = this.reconnectApp(MAX_CONNECTIONS);
    const host = options.host ?? '127.0.0.1';
    const { host: address, port } = await listen(
      app,
      host,
      options.port ?? 0,
      (err) =>
        new RotatorError('CONFIG_INVALID', `cannot listen on ${host}:${options.port ?? 0} (${err.code ?? err.name})`, 'port'),
    );
    const handle = {
      url: `http://${address.includes(':') ? `[${address}]` : address}:${port}/`,
      close: () => {
        this.servers.delete(handle);
        return app.close();
      },
    };
    this.servers.add(handle);
    return handle;
  }

  /** The reconnect signal's server (src/reader/webhook-receiver.ts), answering with this client's refresh. */
  private reconnectApp(maxConnections?: number) {
    const signingKey = this.options.signingKey;
    if (signingKey === undefined)
      throw new RotatorError('CONFIG_INVALID', 'a reconnect handler needs the signing key of the webhook', 'signingKey');
    // A key in a secret the config does not have would make every delivery a 503: say so now.
    const keys = this.signingKeys(typeof signingKey === 'string' ? this.parse(signingKey).ref : signingKey);
    return createReconnectApp({
      keys,
      now: this.now,
      toleranceMs: this.toleranceMs,
      log: this.log,
      maxConnections,
      handle: (event) => this.answerReconnect(event),
    });
  }

  /** Stops the refresh timers and servers, and closes the stores the client made. */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    for (const t of this.timers.values()) clearInterval(t);
    this.timers.clear();
    await Promise.all([...this.servers].map((s) => s.close()));
    this.cache.clear();
    this.listeners.clear();
    // Every lease this client issued goes back to the engine: a reader that stops leaves no login behind.
    const revoking = await Promise.allSettled([...this.leases.values()].map((l) => l.close()));
    this.leases.clear();
    this.leaseListeners.clear();
    await this.engines?.close();
    if (this.ownsProviders) await this.providers.close();
    const failed = revoking.find((r): r is PromiseRejectedResult => r.status === 'rejected');
    if (failed) throw failed.reason;
  }

  private isLeased(ref: SecretUri): boolean {
    return readerLeased(requireSecret(this.config, ref.secret));
  }

  /** The lease this client holds for a dynamic secret without publish:, made on first use. */
  private leaseOf(secretName: string): ReaderLease {
    let lease = this.leases.get(secretName);
    if (lease) return lease;
    const secret = requireSecret(this.config, secretName);
    const m = DYNAMIC_PATH.exec(secret.path);
    if (!m) throw new RotatorError('CONFIG_INVALID', 'expected <mount>/creds/<role>', `secrets.${secretName}.path`);
    this.engines ??= new EngineRegistry(this.config.providers);
    const engines = this.engines;
    lease = new ReaderLease({
      engine: () => engines.engine(secret.provider),
      mount: m[1]!,
      role: m[2]!,
      lease: secret.lease ?? LeaseSchema.parse({}),
      secret: `secrets.${secretName}`,
      now: this.now,
      onEvent: (event) => this.leaseEvent(secretName, event),
    });
    this.leases.set(secretName, lease);
    return lease;
  }

  private leaseEvent(secretName: string, event: LeaseEvent): void {
    const { kind, leaseId } = event;
    if (kind === 'failed')
      this.log.warn({ secret: secretName, leaseId, step: event.step, code: event.code }, 'lease step failed');
    else this.log.info({ secret: secretName, leaseId, kind }, `lease ${kind}`);
    for (const listener of this.leaseListeners) {
      try {
        listener(secretName, event);
      } catch {
        // A listener's failure is its own.
      }
    }
    if (event.kind !== 'reissued') return;
    const uris = [...this.refs.entries()].filter(([, ref]) => ref.secret === secretName);
    for (const [, ref] of uris) {
      const change: SecretChange = {
        uri: describeSecretUri(ref),
        secret: secretName,
        version: event.leaseId,
        previousVersion: event.previousLeaseId,
        reason: 'reissue',
      };
      for (const listener of this.listeners) {
        try {
          listener(change);
        } catch (err) {
          this.log.warn(
            { secret: secretName, error: err instanceof Error ? err.name : typeof err },
            'an onChange listener threw',
          );
        }
      }
    }
  }

  /** A leased credential as `get` returns it: `username` and `password` (within `keys:`), its lease id as version. */
  private asResolved(ref: SecretUri, held: HeldLease): ResolvedSecret {
    const secret = requireSecret(this.config, ref.secret);
    const value = project({ username: held.username, password: held.password }, ref, secret.keys);
    const location = { provider: secret.provider, type: this.config.providers[secret.provider]?.type ?? '?', path: secret.path };
    if (value === null)
      throw new RotatorError('NOT_FOUND', `${ref.secret}: a leased credential has username and password only`, 'uri');
    const fields = Object.keys(
      project({ username: held.username, password: held.password }, { secret: ref.secret }, secret.keys) ?? {},
    );
    return {
      secret: ref.secret,
      ...(ref.key !== undefined ? { key: ref.key } : {}),
      value,
      version: held.leaseId,
      source: 'store',
      location,
      fields,
    };
  }

  private async leased(key: string, ref: SecretUri): Promise<ResolvedSecret> {
    const held = await this.leaseOf(ref.secret).current();
    this.refs.set(key, ref);
    return this.asResolved(ref, held);
  }

  /** The current lease's credential, then the previous ones whose leases have not ended, newest first. */
  private async leasedCandidates(key: string, ref: SecretUri): Promise<Candidate[]> {
    const current = await this.leased(key, ref);
    const out: Candidate[] = [{ role: 'current', version: current.version, value: current.value }];
    for (const old of this.leaseOf(ref.secret).previous())
      out.push({ role: 'previous', version: old.leaseId, value: this.asResolved(ref, old).value });
    return out;
  }

  private parse(uri: string): CacheKey {
    if (this.closed) throw new RotatorError('CONFIG_INVALID', 'the secret client is closed');
    const ref = parseSecretUri(uri, 'uri');
    requireSecret(this.config, ref.secret);
    return { key: keyOf(ref), ref };
  }

  /**
   * The reconnect handler's signing key, read apart from the value cache (a read for a request not yet authenticated
   * neither changes the cache nor reports a change): held for SIGNING_KEY_HOLD_MS or the secret's `cache.ttl`,
   * whichever is longer; read again on a signature that does not match at most once per SIGNING_KEY_HOLD_MS; one
   * read at a time. A key shorter than MIN_SIGNING_KEY_LENGTH is refused, from a function as from the store.
   */
  private signingKeys(source: SecretUri | (() => Promise<string> | string)): SigningKeys {
    const holdMs =
      typeof source === 'function'
        ? SIGNING_KEY_HOLD_MS
        : Math.max(SIGNING_KEY_HOLD_MS, ttlOf(requireSecret(this.config, source.secret)));
    let held: string | undefined;
    let readAt = Number.NEGATIVE_INFINITY;
    let reading: Promise<string> | undefined;
    const fetchKey = async (): Promise<string> => {
      if (this.closed) throw new RotatorError('CONFIG_INVALID', 'the secret client is closed');
      const value =
        typeof source === 'function'
          ? await source()
          : (await resolveSecret(this.config, this.providers, source, { field: 'signingKey', log: this.log })).value;
      if (typeof value !== 'string' || value.length < MIN_SIGNING_KEY_LENGTH) {
        throw new RotatorError(
          'CONFIG_INVALID',
          `the signing key must be one field (secret://name/key) of at least ${MIN_SIGNING_KEY_LENGTH} characters`,
          'signingKey',
        );
      }
      return value;
    };
    const read = (): Promise<string> => {
      if (!reading) {
        readAt = this.now();
        reading = fetchKey()
          .then((key) => (held = key))
          .finally(() => (reading = undefined));
      }
      return reading;
    };
    return {
      current: () => (held !== undefined && !reading && this.now() - readAt < holdMs ? Promise.resolve(held) : read()),
      reread: () => (this.now() - readAt >= SIGNING_KEY_HOLD_MS ? read() : (reading ?? Promise.resolve(null))),
    };
  }

  /** What an authenticated reconnect event is answered (200); a throw is a 503, so rotator retries. */
  private async answerReconnect(event: ReconnectEvent): Promise<string> {
    const seen = this.seenEvents.get(event.id);
    if (seen) {
      // A copy of a delivery in flight shares its outcome: a duplicate once it refreshed, its 503 if it failed.
      await seen;
      return 'duplicate';
    }
    if (!Object.hasOwn(this.config.secrets, event.secret)) return 'ignored';
    // Recorded before the first await, so concurrent copies find it.
    const refreshing = this.refresh(event.secret, 'reconnect');
    this.seenEvents.set(event.id, refreshing);
    if (this.seenEvents.size > SEEN_EVENTS) this.seenEvents.delete(this.seenEvents.keys().next().value!);
    try {
      await refreshing;
    } catch (err) {
      // Forgotten, so rotator's retry of this delivery refreshes again.
      if (this.seenEvents.get(event.id) === refreshing) this.seenEvents.delete(event.id);
      throw err;
    }
    return 'refreshed';
  }

  /** Reads the URI from the store now (one read at a time per URI), caches it and reports a change. */
  private read(key: string, ref: SecretUri, reason: SecretChange['reason']): Promise<ResolvedSecret> {
    const running = this.reading.get(key);
    if (running) return running;
    const secret = requireSecret(this.config, ref.secret);
    const reading = resolveSecret(this.config, this.providers, ref, { log: this.log })
      .then((found) => {
        const old = this.cache.last(key);
        this.refs.set(key, ref);
        this.cache.set(key, found, ttlOf(secret));
        this.startTimer(ref.secret);
        if (old && !sameValue(old.value, found.value)) {
          this.before.set(key, old);
          const change: SecretChange = {
            uri: describeSecretUri(ref),
            secret: ref.secret,
            version: found.version,
            previousVersion: old.version,
            reason,
          };
          for (const listener of this.listeners) {
            // A listener's failure is its own: the read succeeded and the other listeners still hear of it.
            try {
              listener(change);
            } catch (err) {
              this.log.warn(
                { secret: ref.secret, error: err instanceof Error ? err.name : typeof err },
                'an onChange listener threw',
              );
            }
          }
        }
        return found;
      })
      .finally(() => this.reading.delete(key));
    this.reading.set(key, reading);
    return reading;
  }

  private async candidates(key: string, ref: SecretUri, current: ResolvedSecret): Promise<Candidate[]> {
    const out: Candidate[] = [{ role: 'current', version: current.version, value: current.value }];
    // A pinned version, a default or a fallback store has one value: nothing staged or older to offer.
    if (ref.version !== undefined || current.source !== 'store') return out;
    const secret = requireSecret(this.config, ref.secret);
    const own = secret.type === 'dynamic' && secret.publish ? secret.publish : secret;
    const store = await this.providers.store(own.provider);
    const extras = await readStoreExtras(store, own.path, current.version);
    const add = (role: CredentialRole, version: string | null, value: ResolvedValue | null) => {
      if (value !== null && !out.some((c) => sameValue(c.value, value))) out.push({ role, version, value });
    };
    if (extras.pending) add('pending', null, project(extras.pending.value, ref, secret.keys));
    if (extras.previous) add('previous', extras.previous.version, project(extras.previous.value, ref, secret.keys));
    const before = this.before.get(key);
    if (before) add('previous', before.version, before.value);
    return out;
  }

  /** `refresh.refresh_interval` with `auto_refresh` (the default): re-read the secret's URIs; unref'd. */
  private startTimer(secret: string): void {
    if (this.timers.has(secret) || this.closed) return;
    const refresh = this.config.secrets[secret]?.refresh;
    if (!refresh?.refresh_interval || refresh.auto_refresh === false) return;
    const timer = setInterval(() => {
      this.refresh(secret).catch((err: unknown) => {
        // The cached value stays; the next get past its ttl reads again. Names and codes only.
        this.log.warn({ secret, code: err instanceof RotatorError ? err.code : undefined }, 'refresh of a secret failed');
      });
    }, refresh.refresh_interval);
    timer.unref();
    this.timers.set(secret, timer);
  }
}

/** A client for the config given or loaded; see SecretClientOptions. */
export function createSecretClient(options: SecretClientOptions): SecretClient {
  return new SecretClient(options);
}
