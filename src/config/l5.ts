// The L5 secret spec's YAML rewritten into rotator's own form (providers: + secrets: with provider/path), before zod.
//
// A file written by the spec names a kind of store per secret (`provider: aws_secrets_manager`) and says where the
// secret is in that store's own words (`secret_id`, `name`, `secret_name`, `variable`), with its connection beside
// it (`vault: { address }`, `auth:`, `region:`). rotator's form names a provider declared once under `providers:`
// and a `path` inside it. This module turns the first into the second: each distinct connection block becomes a
// provider (a deterministic name, shared by the secrets that write the same block), each location a path, and the
// spec's reader-side fields (keys, cache, on_missing, retry, fallback, auto_refresh) stay on the secret, validated,
// for the `secret://` resolver; rotation ignores them. A file in rotator's form passes through unchanged, and both
// forms may be mixed. It runs on the document as parsed, before ${VAR} interpolation, so that a value's
// sensitivity is judged by the field rotator keeps it in (an AWS `secret_id` is a path; Vault's `auth.secret_id` is a
// credential), and so that a synthesized provider's name is the same wherever the file is loaded.
import { createHash } from 'node:crypto';
import { z } from 'zod';
import { duration, name } from './fields';
import { CONSUMERS, type ConsumerType } from '../../activities/consumers';
import { STORES } from '../../activities/stores';
import type { AnyStorePlugin, L5Context, L5ReadOptions, L5Spelling } from '../../activities/plugin';
import type { RotatorError } from '../kernel/errors';
import { parseSecretUri, type SecretUri } from '../kernel/uri';

type Issue = { path: string; message: string };
type Mapping = Record<string, unknown>;
/** Formats a zod error as field-named issues (load.ts's issuesOf; passed in, since load.ts imports this module). */
export type DescribeIssues = (error: z.ZodError, prefix: string[], input?: { root?: unknown }) => Issue[];

const isMapping = (v: unknown): v is Mapping => !!v && typeof v === 'object' && !Array.isArray(v);

/** A field of a secret's value, as `secret://name/<field>` names it. */
const FIELD = /^[A-Za-z0-9_.-]+$/;
const fieldName = z.string().regex(FIELD, { message: 'expected a field name (letters, digits, _ . -)' });

// ---------------------------------------------------------------------------------------------------------------
// The spec's reader-side fields, kept on a secret (SecretSchema spreads L5_SECRET_FIELDS). rotator reads and writes
// a secret's whole current value with its own credentials; these say how an application's `secret://` resolver
// reads it, and nothing in a rotation acts on them.

/** `cache: { enabled, ttl }`: how long a reader may keep a value it read. */
const CacheSchema = z.object({ enabled: z.boolean().default(true), ttl: duration.optional() }).strict();

/** `on_missing:` what a reader does when the secret is not found: fail, use `default_value`, or warn and go on. */
const OnMissingSchema = z
  .object({
    action: z.enum(['fail', 'default', 'warn']).default('fail'),
    /** A number or true/false is taken as its text, as an environment variable would hold it. */
    default_value: z.union([z.string(), z.number(), z.boolean()]).transform(String).optional(),
    message: z.string().optional(),
  })
  .strict()
  .superRefine((m, ctx) => {
    if (m.action === 'default' && m.default_value === undefined)
      ctx.addIssue({ code: 'custom', path: ['default_value'], message: 'action default needs a default_value' });
    if (m.action !== 'default' && m.default_value !== undefined)
      ctx.addIssue({ code: 'custom', path: ['default_value'], message: `is used only with action: default, not ${m.action}` });
  });

/** `retry:` how a reader retries a provider that does not answer. */
const RetrySchema = z
  .object({
    attempts: z.number().int().min(1).max(20).default(3),
    backoff: z.enum(['exponential', 'fixed']).default('exponential'),
    initial_delay: duration.default(1_000),
    max_delay: duration.default(30_000),
  })
  .strict()
  .superRefine((r, ctx) => {
    if (r.initial_delay > r.max_delay)
      ctx.addIssue({ code: 'custom', path: ['max_delay'], message: 'must not be shorter than initial_delay' });
  });

/** `fallback:` where a reader looks when the provider is unavailable: a location like a secret's own, normalized. */
const FallbackSchema = z.object({ provider: name, path: z.string().min(1), keys: z.array(fieldName).min(1).optional() }).strict();

/**
 * The spec's `rotation.on_rotation.action` values and the consumer each means, as the consumer plugins declare them
 * (their `l5Action`): `reconnect` signals the application (a webhook), `restart` rolls its workloads out, `alert`
 * tells people without failing the rotation.
 */
export const ON_ROTATION_ACTIONS: Readonly<Record<string, ConsumerType>> = Object.fromEntries(
  Object.entries(CONSUMERS as Record<ConsumerType, { l5Action?: string }>).flatMap(([type, p]) =>
    p.l5Action ? [[p.l5Action, type as ConsumerType]] : [],
  ),
);
const ON_ROTATION = Object.keys(ON_ROTATION_ACTIONS) as [string, ...string[]];

/**
 * The spec's consumer-side `rotation:` block (`auto_refresh`, `refresh_interval`, `on_rotation`): how a reader
 * notices a new version and what it then does. rotator does not act on it: a secret rotates only with target: and
 * rotation.strategy, and then `rotation.on_rotation` is one of rotator's consumers (schema.ts).
 */
const RefreshSchema = z
  .object({
    auto_refresh: z.boolean().default(true),
    refresh_interval: duration.optional(),
    on_rotation: z
      .object({ action: z.enum(ON_ROTATION), grace_period: duration.optional() })
      .strict()
      .optional(),
  })
  .strict();

/**
 * The spec's per-store read options (the version a reader takes, who reads), each declared by its store's L5 spelling
 * (`l5.read`) and composed here. rotator always takes the current version.
 */
function readSchema(reads: ReadonlyArray<L5ReadOptions>) {
  const fields: Record<string, z.ZodType> = {};
  for (const read of reads)
    for (const [option, schema] of Object.entries(read.fields)) {
      if (fields[option] !== undefined && fields[option] !== schema)
        throw new Error(`two stores declare the L5 read option ${option} with different schemas`);
      fields[option] = schema;
    }
  return z
    .object(fields)
    .strict()
    .superRefine((r, ctx) => {
      for (const read of reads) read.check?.(r, ctx);
    });
}
const ReadSchema = readSchema(
  Object.values(STORES as Record<string, AnyStorePlugin>).flatMap((p) => (p.l5?.read ? [p.l5.read] : [])),
);

export const L5_SECRET_FIELDS = {
  /** `key:` / `keys:`: the fields of the value this secret exposes to `secret://name/<field>`; rotation ignores it. */
  keys: z.array(fieldName).min(1).optional(),
  cache: CacheSchema.optional(),
  on_missing: OnMissingSchema.optional(),
  retry: RetrySchema.optional(),
  fallback: FallbackSchema.optional(),
  refresh: RefreshSchema.optional(),
  read: ReadSchema.optional(),
};

/** `secrets._config.audit`: kept on the config for the resolver's access log; rotator does not use it yet. */
export const AuditSchema = z
  .object({
    enabled: z.boolean().default(true),
    log_access: z.boolean().default(false),
    log_destination: z.string().min(1).optional(),
  })
  .strict();

// ---------------------------------------------------------------------------------------------------------------
// Where a secret is, in each store's own words: every store plugin that the spec names spells its own (its `l5`).

/** The spec's `provider:` names, each with its store's type and spelling. */
const KINDS: ReadonlyMap<string, { type: string; spelling: L5Spelling }> = new Map(
  Object.entries(STORES as Readonly<Record<string, AnyStorePlugin>>).flatMap(([type, plugin]) =>
    plugin.l5 ? [[plugin.l5.provider, { type, spelling: plugin.l5 }] as const] : [],
  ),
);
const isKind = (p: unknown): p is string => typeof p === 'string' && KINDS.has(p);

/** Top-level sections of an L5 document that bind secrets to streams and lookups: only their references matter here. */
const BINDING_SECTIONS = ['streams', 'lookups', 'checkpoints'] as const;

// ---------------------------------------------------------------------------------------------------------------

export interface L5Normalized {
  /** The document in rotator's form, for interpolation and the schema; the very input when it used nothing of the spec. */
  document: unknown;
  /** Malformed spec fields: the file is refused. */
  issues: Issue[];
  /**
   * Secrets valid by the spec that this build cannot serve (a dynamic secret without publish:). They are left out
   * of the document; a load refuses the file with these, an offline check lists them.
   */
  deferred: Issue[];
  /** Where a field of the normalized document was written in the spec's form (a path of an issue, rewritten). */
  origin(path: string): string;
  /** Values in the interpolated document that are secrets whatever their field is called (env defaults, default_value). */
  sensitiveIn(interpolated: unknown): string[];
}

export function normalizeL5(raw: unknown, describe: DescribeIssues): L5Normalized {
  const n = new Normalizer(raw, describe);
  const document = n.run();
  const origins = [...n.origins].sort(([a], [b]) => b.length - a.length);
  return {
    document,
    issues: n.issues,
    deferred: n.deferred,
    origin(path) {
      const hit = origins.find(([from]) => path === from || path.startsWith(`${from}.`));
      return hit ? hit[1] + path.slice(hit[0].length) : path;
    },
    sensitiveIn(interpolated) {
      return n.sensitive.flatMap((path) => {
        const v = path.reduce<unknown>((node, seg) => (isMapping(node) ? node[seg] : undefined), interpolated);
        return typeof v === 'string' || typeof v === 'number' ? [String(v)] : [];
      });
    },
  };
}

/** Where the user wrote each field of a secret: its own entry, or the `_groups` entry it took the field from. */
type WrittenAt = (field: string) => string;

class Normalizer {
  readonly issues: Issue[] = [];
  readonly deferred: Issue[] = [];
  readonly sensitive: string[][] = [];
  readonly origins = new Map<string, string>();
  private readonly synthesized: Mapping = {};
  private readonly declared: Mapping;
  /** Every secret of the file by name (those left out too), with the keys it exposes: what a reference may name. */
  private readonly exposes = new Map<string, string[] | undefined>();

  constructor(
    private readonly raw: unknown,
    private readonly describe: DescribeIssues,
  ) {
    this.declared = isMapping(raw) && isMapping(raw.providers) ? raw.providers : {};
  }

  private issue(path: string, message: string): void {
    this.issues.push({ path, message });
  }

  /** An issue found in the normalized document at `from` is reported at `to`, where the user wrote it. */
  private reportAt(from: string, to: string): void {
    if (from !== to && !this.origins.has(from)) this.origins.set(from, to);
  }

  private check<T>(schema: z.ZodType<T>, value: unknown, at: string): T | undefined {
    const r = schema.safeParse(value, { reportInput: true });
    if (r.success) return r.data;
    this.issues.push(...this.describe(r.error, [at], { root: value }));
    return undefined;
  }

  run(): unknown {
    const raw = this.raw;
    if (!isMapping(raw)) return raw;
    let changed = false;
    const doc: Mapping = { ...raw };
    for (const section of BINDING_SECTIONS) if (section in doc) changed = true;
    if (isMapping(raw.secrets)) {
      const secrets = this.secrets(raw.secrets);
      if (secrets.changed) {
        changed = true;
        doc.secrets = secrets.entries;
        if (secrets.audit !== undefined) {
          if ('audit' in raw) this.issue('secrets._config.audit', 'set audit here or at the top level, not both');
          doc.audit = secrets.audit;
          this.reportAt('audit', 'secrets._config.audit');
        }
      }
    }
    // Bindings of streams, lookups and checkpoints are the application's; rotator checks that what they name exists.
    for (const section of BINDING_SECTIONS) {
      if (!(section in doc)) continue;
      if (!isMapping(doc[section])) this.issue(section, 'expected a mapping');
      else this.references(doc[section], [section]);
      delete doc[section];
    }
    if (Object.keys(this.synthesized).length > 0) {
      changed = true;
      doc.providers = { ...this.declared, ...this.synthesized };
    }
    return changed ? doc : raw;
  }

  private secrets(all: Mapping): { entries: Mapping; audit: unknown; changed: boolean } {
    const { _config: config, _groups: groupsIn, ...named } = all;
    let changed = config !== undefined || groupsIn !== undefined;
    let defaultProvider: string | undefined;
    let audit: unknown;
    // `_config: { default_provider, audit }`: the provider of secrets that name none; the audit block is kept.
    if (config !== undefined) {
      // The audit block is checked by the config schema, as the top-level `audit:` it becomes.
      const parsed = this.check(
        z.object({ default_provider: name.optional(), audit: z.unknown().optional() }).strict(),
        config,
        'secrets._config',
      );
      defaultProvider = parsed?.default_provider;
      if (isMapping(config)) audit = config.audit;
    }
    // `_groups: { name: { …fields } }`: shared fields; `_group: name` on a secret takes them, its own fields winning.
    const groups: Mapping = {};
    if (groupsIn !== undefined) {
      if (!isMapping(groupsIn)) this.issue('secrets._groups', 'expected a mapping of group names to secret fields');
      else
        for (const [g, fields] of Object.entries(groupsIn)) {
          if (!isMapping(fields)) this.issue(`secrets._groups.${g}`, 'expected a mapping of secret fields');
          else if ('_group' in fields) this.issue(`secrets._groups.${g}._group`, 'groups do not nest');
          else groups[g] = fields;
        }
    }
    const entries: Mapping = {};
    for (const [secretName, entry] of Object.entries(named)) {
      const out = this.secret(secretName, entry, groups, defaultProvider);
      if (out !== entry) changed = true;
      if (out !== undefined) entries[secretName] = out;
    }
    return { entries, audit, changed };
  }

  /** One secret in rotator's form; undefined when it is left out (deferred). The very entry when nothing applied. */
  private secret(secretName: string, entry: unknown, groups: Mapping, defaultProvider: string | undefined): unknown {
    const at = `secrets.${secretName}`;
    this.exposes.set(secretName, undefined);
    if (!isMapping(entry)) return entry;
    let fields: Mapping = entry;
    let written: WrittenAt = (f) => `${at}.${f}`;
    let changed = false;
    if ('_group' in entry) {
      const { _group: group, ...own } = entry;
      changed = true;
      fields = own;
      if (typeof group !== 'string' || !isMapping(groups[group])) {
        const known = Object.keys(groups);
        this.issue(
          `${at}._group`,
          `no group of that name under secrets._groups${known.length ? `; groups: ${known.join(', ')}` : ''}`,
        );
      } else {
        const shared = groups[group] as Mapping;
        fields = { ...shared, ...own };
        written = (f) => (f in own ? `${at}.${f}` : `secrets._groups.${group}.${f}`);
        for (const f of Object.keys(shared)) if (!(f in own)) this.reportAt(`${at}.${f}`, written(f));
      }
    }
    if (fields.provider === undefined && defaultProvider !== undefined) {
      fields = { ...fields, provider: defaultProvider };
      changed = true;
      const before = written;
      written = (f) => (f === 'provider' ? 'secrets._config.default_provider' : before(f));
      this.reportAt(`${at}.provider`, 'secrets._config.default_provider');
    }
    let out = this.keysOf(fields, at, written);
    out = this.rotationOf(out, at, written);
    if ('fallback' in out) out = this.fallbackOf(out, at, written);
    if (out !== fields) changed = true;
    this.exposes.set(secretName, Array.isArray(out.keys) ? out.keys.map(String) : undefined);
    if (isMapping(out.on_missing)) this.sensitive.push(['secrets', secretName, 'on_missing', 'default_value']);

    const provider = out.provider;
    if (isKind(provider)) {
      const located = this.locate(provider, out, at, written, 'secret');
      if (located === undefined) return undefined;
      if (located !== out) changed = true;
      out = located;
    }
    return changed ? out : entry;
  }

  /** `key: password` / `keys: [username, password]` → `keys:`, the fields of the value this secret exposes. */
  private keysOf(fields: Mapping, at: string, written: WrittenAt): Mapping {
    if (!('key' in fields)) return fields;
    const { key, ...rest } = fields;
    if ('keys' in fields) {
      this.issue(written('keys'), 'set key or keys, not both');
      return rest;
    }
    this.reportAt(`${at}.keys.0`, written('key'));
    this.reportAt(`${at}.keys`, written('key'));
    return { ...rest, keys: [key] };
  }

  /**
   * The spec's `rotation:` is the reader's: `auto_refresh` and `refresh_interval` (poll for a new version), and
   * `on_rotation` (what the reader does then). rotator's is its own schedule and strategy. A block without
   * `strategy` holding only the spec's fields becomes `refresh:` (the secret is then not rotated unless it also has
   * target: and a rotation with strategy); in a block with `strategy`, `auto_refresh` and `refresh_interval` move
   * to `refresh:` and `on_rotation` stays, one of rotator's consumers (schema.ts's onRotationAsConsumer).
   */
  private rotationOf(fields: Mapping, at: string, written: WrittenAt): Mapping {
    const rotation = fields.rotation;
    if (!isMapping(rotation)) return fields;
    const readerSide = ['auto_refresh', 'refresh_interval', 'on_rotation'];
    const keys = Object.keys(rotation);
    // An on_rotation with a consumer's fields (url, workloads) is rotator's, left for the schema to ask for strategy.
    const readersOwn =
      !isMapping(rotation.on_rotation) || Object.keys(rotation.on_rotation).every((k) => k === 'action' || k === 'grace_period');
    if (!('strategy' in rotation) && keys.length > 0 && keys.every((k) => readerSide.includes(k)) && readersOwn) {
      const { rotation: _, ...rest } = fields;
      this.reportAt(`${at}.refresh`, written('rotation'));
      return { ...rest, refresh: rotation };
    }
    const { auto_refresh, refresh_interval, ...own } = rotation;
    if (auto_refresh === undefined && refresh_interval === undefined) return fields;
    this.reportAt(`${at}.refresh`, written('rotation'));
    const refresh = {
      ...(auto_refresh !== undefined ? { auto_refresh } : {}),
      ...(refresh_interval !== undefined ? { refresh_interval } : {}),
    };
    return { ...fields, rotation: own, refresh };
  }

  /** `fallback: { provider: env, variable: DB_PASSWORD }` → `{ provider, path }`, located like a secret. */
  private fallbackOf(fields: Mapping, at: string, written: WrittenAt): Mapping {
    const fallback = fields.fallback;
    const where = written('fallback');
    if (!isMapping(fallback) || !isKind(fallback.provider)) return fields;
    const inner: WrittenAt = (f) => `${where}.${f}`;
    const block = this.keysOf(fallback, `${at}.fallback`, inner);
    const located = this.locate(fallback.provider, block, `${at}.fallback`, inner, 'fallback');
    if (located === undefined) {
      const { fallback: _, ...rest } = fields;
      return rest;
    }
    return located === fallback ? fields : { ...fields, fallback: located };
  }

  /**
   * A secret (or fallback) of one of the spec's kinds in rotator's form, as its store's plugin spells it: its
   * connection as a provider, its location as `path`. Unchanged when it already is (a `path` and no connection
   * fields); undefined when it is left out.
   */
  private locate(kind: string, s: Mapping, at: string, written: WrittenAt, what: 'secret' | 'fallback'): Mapping | undefined {
    const { type, spelling } = KINDS.get(kind)!;
    const ctx: L5Context = {
      at,
      what,
      written,
      issue: (path, message) => this.issue(path, message),
      reportAt: (from, to) => this.reportAt(from, to),
      check: (schema, value, where) => this.check(schema, value, where),
      checkWritten: (schema, block) => {
        const parsed = schema.safeParse(block, { reportInput: true });
        if (parsed.success) return parsed.data;
        for (const i of this.describe(parsed.error, [], { root: block })) {
          const [field, ...below] = i.path.split('.');
          this.issue([written(field!), ...below].join('.'), i.message);
        }
        return undefined;
      },
      location: (block, location, value) => this.location(block, location, value, at, written),
      provider: (block, fields) => this.provider(type, block, at, fields),
      declared: (providerName) => this.declared[providerName],
      sameType: () => this.sameType(kind, type, written),
      synthesize: (providerName, block) => {
        if (providerName in this.synthesized) return;
        this.synthesized[providerName] = block;
        this.reportAt(`providers.${providerName}`, at);
      },
      defer: (path, message) => this.deferred.push({ path, message }),
    };
    return spelling.translate(s, ctx);
  }

  /** `<location>` (the store's own word for where the secret is) → `path`; `path` itself is accepted instead. */
  private location(s: Mapping, location: string, value: unknown, at: string, written: WrittenAt): Mapping {
    if (value !== undefined && 'path' in s) this.issue(written(location), `set ${location} or path, not both`);
    if (value === undefined) {
      if (!('path' in s)) this.issue(`${at}.${location}`, 'missing (where the secret is in its store)');
      return s;
    }
    this.reportAt(`${at}.path`, written(location));
    return { ...s, path: value };
  }

  /** A provider declared under `providers:` with a spec kind's name is used only if it is of that kind's type. */
  private sameType(kind: string, type: string, written: WrittenAt): void {
    const declared = this.declared[kind];
    if ((isMapping(declared) ? declared.type : undefined) !== type)
      this.issue(written('provider'), `providers.${kind} is declared with another type; the spec's ${kind} needs type ${type}`);
  }

  /**
   * The provider a connection block makes: named `l5-<type>-<hash of the block as written>`, so secrets that write
   * the same block share one, and the name is the same on every machine that loads the file (plans carry it to the
   * workers). `fields` says where each of its fields came from, for errors.
   */
  private provider(type: string, block: Mapping, at: string, fields: Record<string, string>): string {
    const full = compact({ type, ...block });
    const providerName = `l5-${type}-${createHash('sha256').update(canonical(full)).digest('hex').slice(0, 10)}`;
    if (this.declared[providerName] !== undefined)
      this.issue(`providers.${providerName}`, 'this name is kept for the provider made from a secret’s own connection block');
    if (!(providerName in this.synthesized)) {
      this.synthesized[providerName] = full;
      this.reportAt(`providers.${providerName}`, at);
      for (const [field, to] of Object.entries(fields)) this.reportAt(`providers.${providerName}.${field}`, to);
    }
    return providerName;
  }

  /** Every `secret://` string under a binding section must name a secret of the file (and a key it exposes). */
  private references(node: unknown, path: string[]): void {
    if (typeof node === 'string') {
      if (!node.startsWith('secret://')) return;
      const at = path.join('.');
      let parsed: SecretUri;
      try {
        parsed = parseSecretUri(node);
      } catch (err) {
        // The kernel's sentence, without its own field name: this issue is reported at the field that holds the URI.
        const { message, path: field } = err as RotatorError;
        return this.issue(at, field ? message.slice(field.length + 2) : message);
      }
      const { secret: target, key } = parsed;
      if (!this.exposes.has(target)) return this.issue(at, `references unknown secret ${JSON.stringify(target)}`);
      const keys = this.exposes.get(target);
      if (key !== undefined && keys !== undefined && !keys.includes(key))
        this.issue(at, `names a key ${target} does not expose; its keys: ${keys.join(', ')}`);
      return;
    }
    if (Array.isArray(node)) node.forEach((v, i) => this.references(v, [...path, String(i)]));
    else if (isMapping(node)) for (const [k, v] of Object.entries(node)) this.references(v, [...path, k]);
  }
}

function compact(m: Mapping): Mapping {
  return Object.fromEntries(Object.entries(m).filter(([, v]) => v !== undefined));
}

/** JSON with sorted keys: the same block hashes the same whatever order its fields were written in. */
function canonical(v: unknown): string {
  if (Array.isArray(v)) return `[${v.map(canonical).join(',')}]`;
  if (isMapping(v))
    return `{${Object.keys(v)
      .sort()
      .map((k) => `${JSON.stringify(k)}:${canonical(v[k])}`)
      .join(',')}}`;
  return JSON.stringify(v) ?? 'null';
}
