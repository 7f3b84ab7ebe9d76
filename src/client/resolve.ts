// The one resolver of `secret://` URIs: a secret's value read from its store the way the L5 spec says a reader does.
//
// What the spec leaves open, decided here (docs/secret-uris.md):
// - Missing means the store has no current value (readCurrent null, or NOT_FOUND), or not the version asked for.
//   Then `?default=` wins, else the secret's `on_missing`: `default` gives its `default_value`; `warn` logs a warning
//   (names only) and gives '' (the schema allows `default_value` only with `default`); `fail`, the default, is
//   NOT_FOUND with `on_missing.message` when given. A default is always text, also for a whole-secret URI.
// - A key absent from a value that exists is NOT_FOUND naming the key, unless the URI has `?default=`; `on_missing`
//   is about the secret, so it does not cover a value that lacks a field. A key outside the secret's `keys:` is
//   NOT_FOUND before anything is read, `?default=` or not: that is a mistake in the reference, not a missing value.
// - Unavailable means TRANSIENT (network, timeouts, a server error). Only that is retried, by the secret's `retry:`
//   (one attempt without it), and then read from its `fallback:` (once). PERMISSION_DENIED, UNSUPPORTED and the rest
//   are answers, not outages: falling back would hide a revoked or wrong credential. A missing value is not an
//   outage either, so it never goes to the fallback.
// - A dynamic secret is read where its keeper publishes it (`publish:`); one without publish: is leased by its
//   readers, and only the reader library's SecretClient leases it (UNSUPPORTED here).
// - A `?version=` the store could never have (`-1` or `1.5` in Vault) is CONFIG_INVALID naming the parameter, found by
//   the store plugin's checkVersion before the store is asked: neither a miss nor an outage, so no default or fallback.
// Values never appear in an error or a log line; a default given in the URI is never quoted.
import type { ProviderRegistry } from '../../activities/registry';
import { storePlugin } from '../../activities/stores';
import type { SecretStore, SecretValue } from '../../activities/types';
import { READER_LEASED, readerLeased, type Config, type SecretConfig } from '../config/schema';
import { assertNever, RotatorError } from '../kernel/errors';
import { logger } from '../kernel/log';
import { requireSecret } from '../config/plan';
import { describeSecretUri, parseSecretUri, type SecretUri } from '../kernel/uri';

export type ResolvedValue = string | Record<string, string | number>;

export interface ResolvedSecret {
  secret: string;
  key?: string;
  /** The field's text for secret://name/key; the value's fields (restricted to `keys:`) for secret://name. */
  value: ResolvedValue;
  /** The store's version of what was read; null when a default stands in. */
  version: string | null;
  source: 'store' | 'default' | 'fallback';
  /** Where the value was read: the secret's store or its fallback (for a default: where it was looked for last). */
  location: { provider: string; type: string; path: string };
  /** The fields the stored value has (within `keys:`), names only; [] when nothing was found. */
  fields: string[];
}

export interface ResolveOptions {
  /** Where the URI was written, for errors (default `uri`). */
  field?: string;
  /** Where `on_missing: warn` warns (default: rotator's logger). Given names only, never a value. */
  log?: { warn(fields: Record<string, unknown>, message: string): void };
  /** Waits between retries (default: a timer). */
  sleep?: (ms: number) => Promise<void>;
}

interface Location {
  provider: string;
  path: string;
  /** The fields a whole-secret read returns; all of them when absent. */
  keys?: string[];
}

interface Read {
  location: Location;
  value: SecretValue | null;
  version: string | null;
}

const timer = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

const unavailable = (err: unknown): err is RotatorError => err instanceof RotatorError && err.code === 'TRANSIENT';

export async function resolveSecret(
  config: Config,
  providers: ProviderRegistry,
  uri: string | SecretUri,
  options: ResolveOptions = {},
): Promise<ResolvedSecret> {
  const field = options.field ?? 'uri';
  const ref = typeof uri === 'string' ? parseSecretUri(uri, field) : uri;
  const secret = requireSecret(config, ref.secret);
  const name = ref.secret;
  if (ref.key !== undefined && secret.keys && !secret.keys.includes(ref.key))
    throw new RotatorError(
      'NOT_FOUND',
      `${name} exposes no key ${JSON.stringify(ref.key)}; its keys: ${secret.keys.join(', ')}`,
      field,
    );
  // Reading its path would issue a credential nobody renews or revokes: only a leasing reader may (src/reader/lease.ts).
  if (readerLeased(secret))
    throw new RotatorError(
      'UNSUPPORTED',
      `${name} is leased by its readers (type: dynamic, no publish:): ${READER_LEASED}`,
      field,
    );
  const own = secret.type === 'dynamic' && secret.publish ? secret.publish : secret;
  const primary: Location = { provider: own.provider, path: own.path, keys: secret.keys };
  const read = (at: Location, role: string) => readAt(config, providers, at, ref, role, field);

  let found: Read;
  let source: ResolvedSecret['source'] = 'store';
  try {
    found = await withRetry(() => read(primary, 'store'), secret.retry, options.sleep ?? timer);
  } catch (err) {
    if (!unavailable(err)) throw err;
    const attempts = secret.retry?.attempts ?? 1;
    const why = `${name}: provider ${primary.provider} is unavailable after ${attempts} attempt${attempts > 1 ? 's' : ''}`;
    if (!secret.fallback) throw new RotatorError('TRANSIENT', `${why}: ${err.message}`, field);
    const fallback: Location = { ...secret.fallback, keys: secret.fallback.keys ?? secret.keys };
    try {
      found = await read(fallback, 'fallback store');
    } catch (fallbackErr) {
      if (!unavailable(fallbackErr)) throw fallbackErr;
      throw new RotatorError(
        'TRANSIENT',
        `${why} (${err.message}), and so is its fallback ${fallback.provider} (${fallbackErr.message})`,
        field,
      );
    }
    source = 'fallback';
  }

  const location = {
    provider: found.location.provider,
    type: typeOf(config, found.location.provider),
    path: found.location.path,
  };
  const base = { secret: name, ...(ref.key !== undefined ? { key: ref.key } : {}), location };
  const whole = found.value && fieldsOf(found.value, found.location.keys);
  if (whole) {
    const fields = Object.keys(whole);
    if (ref.key === undefined) return { ...base, value: whole, version: found.version, source, fields };
    const value = whole[ref.key];
    if (value !== undefined) return { ...base, value: String(value), version: found.version, source, fields };
    if (ref.default !== undefined) return { ...base, value: ref.default, version: null, source: 'default', fields };
    throw new RotatorError(
      'NOT_FOUND',
      `${name} has no key ${JSON.stringify(ref.key)} in ${where(found.location, ref)}; its value has ${fields.join(', ') || 'no fields'}`,
      field,
    );
  }

  // Missing: the URI's own default, else what the secret says a reader does.
  const missing = (value: string): ResolvedSecret => ({ ...base, value, version: null, source: 'default', fields: [] });
  if (ref.default !== undefined) return missing(ref.default);
  const onMissing = secret.on_missing ?? { action: 'fail' as const, message: undefined, default_value: undefined };
  switch (onMissing.action) {
    case 'default':
      return missing(onMissing.default_value ?? '');
    case 'warn':
      (options.log ?? logger).warn(
        { secret: name, key: ref.key, version: ref.version, provider: location.provider, path: location.path },
        'secret not found; on_missing is warn, so it resolves to an empty value',
      );
      return missing('');
    case 'fail':
      throw new RotatorError('NOT_FOUND', onMissing.message ?? `${name} has no value in ${where(found.location, ref)}`, field);
    default:
      return assertNever(onMissing.action);
  }
}

/** `provider:path`, and the version asked for: what a message may say about where a value was looked for. */
function where(at: Location, ref: SecretUri): string {
  return `${at.provider}:${at.path}${ref.version !== undefined ? ` (version ${ref.version})` : ''}`;
}

function typeOf(config: Config, provider: string): string {
  return config.providers[provider]?.type ?? 'unknown';
}

/** One read of a location: the value and its version, or null for both when the store has none. */
async function readAt(
  config: Config,
  providers: ProviderRegistry,
  at: Location,
  ref: SecretUri,
  role: string,
  field: string,
): Promise<Read> {
  if (ref.version !== undefined) checkVersion(config, at.provider, ref, ref.version, field);
  const store: SecretStore = await providers.store(at.provider);
  try {
    if (ref.version !== undefined) {
      if (!store.capabilities.versions)
        throw new RotatorError(
          'UNSUPPORTED',
          `${describeSecretUri(ref)}: the ${role} of ${ref.secret} (${typeOf(config, at.provider)} provider ${at.provider}) keeps no versions, so ?version= cannot be served`,
          field,
        );
      const value = await store.readVersion(at.path, ref.version);
      return { location: at, value, version: value ? ref.version : null };
    }
    const current = await store.readCurrent(at.path);
    return { location: at, value: current?.value ?? null, version: current?.version ?? null };
  } catch (err) {
    // A store that says NOT_FOUND (the file store's pointer to a version that is gone) has no value to give.
    if (err instanceof RotatorError && err.code === 'NOT_FOUND') return { location: at, value: null, version: null };
    throw err;
  }
}

/** CONFIG_INVALID when the URI's `?version=` cannot name a version of `provider`'s kind of store. */
function checkVersion(config: Config, provider: string, ref: SecretUri, version: string, field: string): void {
  const block = config.providers[provider];
  const why = block ? storePlugin(block).checkVersion?.(version) : null;
  if (why)
    throw new RotatorError(
      'CONFIG_INVALID',
      `?version=${version} cannot name a version of ${describeSecretUri({ ...ref, version: undefined })} in ${block!.type} provider ${provider}: ${why}`,
      field,
    );
}

/** Tries again while the provider is unavailable, as `retry:` says; without it, once. */
async function withRetry<T>(
  read: () => Promise<T>,
  retry: SecretConfig['retry'],
  sleep: (ms: number) => Promise<void>,
): Promise<T> {
  const attempts = retry?.attempts ?? 1;
  for (let attempt = 1; ; attempt++) {
    try {
      return await read();
    } catch (err) {
      if (!unavailable(err) || !retry || attempt >= attempts) throw err;
      await sleep(retryDelay(retry, attempt));
    }
  }
}

/** The wait after failed attempt `attempt` (1-based): initial_delay, doubled each time when exponential, up to max_delay. */
export function retryDelay(retry: NonNullable<SecretConfig['retry']>, attempt: number): number {
  const delay = retry.backoff === 'fixed' ? retry.initial_delay : retry.initial_delay * 2 ** (attempt - 1);
  return Math.min(delay, retry.max_delay);
}

/**
 * The value's fields within `keys`, in the order `keys` lists them (all of them, in the store's order, without it),
 * as text or numbers; anything else a store holds becomes JSON text.
 */
export function fieldsOf(value: SecretValue, keys: string[] | undefined): Record<string, string | number> {
  const all = value as Record<string, unknown>;
  const out: Record<string, string | number> = {};
  for (const k of keys ?? Object.keys(all)) {
    const v = all[k];
    if (v === undefined || !Object.hasOwn(all, k)) continue;
    out[k] = typeof v === 'string' || typeof v === 'number' ? v : JSON.stringify(v);
  }
  return out;
}
