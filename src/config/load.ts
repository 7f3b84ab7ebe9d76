// Reads a config file: YAML → the L5 spec's form rewritten → built-in providers → ${ENV} interpolation → zod.
// Every error names the field, where the file wrote it.
import { readFileSync } from 'node:fs';
import { parseDocument } from 'yaml';
import type { z } from 'zod';
import { STORES } from '../../activities/stores';
import { RotatorError } from '../kernel/errors';
import { printable } from '../kernel/printable';
import { redact } from '../kernel/redact';
import { normalizeL5 } from './l5';
import { declaredSecret, type PluginDeclarations } from './secret-fields';
import { ConfigSchema, READER_LEASED_NOTE, readerLeased, type Config } from './schema';

export class ConfigError extends RotatorError {
  constructor(
    readonly issues: ReadonlyArray<{ path: string; message: string }>,
    source: string,
  ) {
    // One line per issue, whatever a check quoted: no control, bidi or line-separator character reaches a terminal.
    super('CONFIG_INVALID', `${source}: invalid config\n${issues.map((i) => `  ${i.path}: ${oneLine(i.message)}`).join('\n')}`);
  }
}

const oneLine = (text: string): string => printable(text, Number.MAX_SAFE_INTEGER);

type Env = Readonly<Record<string, string | undefined>>;
type Issue = { path: string; message: string };

const INTERPOLATION = /\$\{([A-Za-z_][A-Za-z0-9_]*)(?::-([^}]*))?\}/g;

/**
 * Shorter values are not scrubbed: a real token or key is longer, and scrubbing `test` (a local emulator's key)
 * would blank out every path that contains the word.
 */
const MIN_SECRET_LENGTH = 8;

/**
 * Names that say a value is a secret, for an environment variable or a field of rotator's own config; a plugin's
 * block declares its secret fields (secret-fields.ts), and this stays a safety net under the declarations there.
 */
const SECRET_NAME = /token|passw(or)?d|secret|key|credential/i;

/**
 * Whether a config field's value is a secret by the field's name. A `secret://` reference never is, nor are the two
 * fields whose names only look like it: a trigger rule's `secret:` (a secret's name) and a secret's own `key:` (the
 * field of its value it exposes). Every other `key` (an Event Grid source's, say) is.
 */
function secretByField(path: readonly string[], value: string, root: unknown): boolean {
  return !value.startsWith('secret://') && secretField(path, root);
}

/**
 * Whether the field at `path` holds a secret: declared so by the plugin whose block holds it in `root` (the document),
 * or named like one.
 */
export function secretField(path: ReadonlyArray<PropertyKey>, root?: unknown, plugins?: PluginDeclarations): boolean {
  const named = path.map(String);
  if (root !== undefined && declaredSecret(root, named, plugins)) return true;
  const field = named.at(-1) ?? '';
  if (!SECRET_NAME.test(field)) return false;
  const naming =
    (named.length === 4 && named[0] === 'triggers' && named[1] === 'rules' && field === 'secret') ||
    (named.length === 3 && named[0] === 'secrets' && field === 'key');
  return !naming;
}

/**
 * Interpolate string scalars only, after parsing, so an env value can never inject YAML structure. Values that are
 * secrets by the name of their field or of their variable are collected into `sensitive`: wherever such a value
 * ends up (a path, a namespace, a verify query), no message may show it.
 */
function interpolate(node: unknown, env: Env, path: string[], issues: Issue[], sensitive: Set<string>, root = node): unknown {
  if (typeof node === 'string') {
    const out = node.replace(INTERPOLATION, (_m, varName: string, fallback: string | undefined) => {
      const value = env[varName];
      if (value !== undefined && value !== '') {
        if (SECRET_NAME.test(varName) && value.length >= MIN_SECRET_LENGTH) sensitive.add(value);
        return value;
      }
      if (fallback !== undefined) return fallback;
      issues.push({ path: path.join('.') || '(root)', message: `environment variable ${varName} is not set` });
      return '';
    });
    if (secretByField(path, out, root) && out.length >= MIN_SECRET_LENGTH) sensitive.add(out);
    return out;
  }
  if (Array.isArray(node)) return node.map((v, i) => interpolate(v, env, [...path, String(i)], issues, sensitive, root));
  if (node && typeof node === 'object') {
    return Object.fromEntries(
      Object.entries(node as Record<string, unknown>).map(([k, v]) => [
        k,
        interpolate(v, env, [...path, k], issues, sensitive, root),
      ]),
    );
  }
  return node;
}

const SENSITIVE = new WeakMap<object, ReadonlyArray<string>>();

/** The secret values a config holds (by field or variable name), for scrubbing whatever rotator prints or logs. */
export function sensitiveValues(config: Config): ReadonlyArray<string> {
  return SENSITIVE.get(config) ?? [];
}

/** Parser messages quote the offending text, which may be a secret written inline: never show quoted text. */
function unquoted(message: string): string {
  return message.split('\n')[0].replace(/"(?:[^"\\]|\\.)*"/g, '"…"');
}

/** Providers a secret may name without declaring them, the way a user would expect them to work: each plugin's own. */
const BUILT_IN_PROVIDERS: Record<string, unknown> = Object.fromEntries(
  Object.entries(STORES).flatMap(([type, plugin]) => ('builtIn' in plugin ? [[type, plugin.builtIn]] : [])),
);

function withBuiltInProviders(raw: unknown): unknown {
  if (!raw || typeof raw !== 'object' || Array.isArray(raw)) return raw;
  const doc = raw as Record<string, unknown>;
  const declared = (doc.providers && typeof doc.providers === 'object' ? doc.providers : {}) as Record<string, unknown>;
  const used = new Set<string>();
  if (doc.secrets && typeof doc.secrets === 'object') {
    for (const s of Object.values(doc.secrets as Record<string, unknown>)) {
      const entry = (s && typeof s === 'object' ? s : {}) as { provider?: unknown; fallback?: { provider?: unknown } };
      for (const p of [entry.provider, entry.fallback?.provider]) if (typeof p === 'string') used.add(p);
    }
  }
  const providers = { ...declared };
  for (const p of used) if (!(p in providers) && BUILT_IN_PROVIDERS[p]) providers[p] = BUILT_IN_PROVIDERS[p];
  return { ...doc, providers };
}

/** How much of a text a message shows of what it found. */
const SHOWN_TEXT = 40;

/**
 * What the config held where an issue was found, for the error message: numbers, booleans and text as written
 * (printable, the first SHOWN_TEXT characters, a URL's user:password@ left out), except under a field whose name says
 * it holds a secret, where only the kind is named. `hide`: values known to be secrets, scrubbed before the cut.
 */
function found(input: unknown, path: ReadonlyArray<PropertyKey>, hide: ReadonlyArray<string> = [], root?: unknown): string {
  if (input === null) return 'null';
  if (Array.isArray(input)) return input.length === 0 ? 'an empty list' : `a list of ${input.length}`;
  if (typeof input === 'object') return 'a mapping';
  if (secretField(path, root)) return typeof input === 'string' ? 'text' : `a ${typeof input}`;
  if (typeof input === 'string') {
    const text = redact(input, hide).replace(/\/\/[^/@\s]*@/g, '//…@');
    return `the text ${JSON.stringify(printable(text, SHOWN_TEXT))}`;
  }
  return typeof input === 'number' ? `the number ${input}` : String(input);
}

/**
 * A discriminated union (a provider's, target's or consumer's `type:`) that matched none of its kinds: the kinds there
 * are, and what the config said. zod reports the whole block as input; the discriminator's value is what was found.
 */
function unknownKind(
  issue: z.core.$ZodIssueInvalidUnion & { discriminator?: string; options?: unknown[] },
  root: unknown,
): string {
  const block = issue.input as Record<string, unknown> | undefined;
  const value = block && typeof block === 'object' && !Array.isArray(block) ? block[issue.discriminator!] : undefined;
  const expected = `expected one of ${(issue.options ?? []).map(String).join(', ')}`;
  return value === undefined ? `missing (${expected})` : `${expected}, got ${found(value, issue.path, [], root)}`;
}

/** What `path` holds in `root` (the document as the schema was given it), or undefined. */
function valueAt(root: unknown, path: ReadonlyArray<PropertyKey>): unknown {
  return path.reduce<unknown>(
    (node, seg) => (node && typeof node === 'object' ? (node as Record<PropertyKey, unknown>)[seg] : undefined),
    root,
  );
}

/** What the schema was given, for the checks whose issues say only what they expected. */
export interface IssueInput {
  /** The document parsed: a field's value as written (a duration's text, not its milliseconds). */
  root?: unknown;
  /** Values known to be secrets, never shown. */
  hide?: ReadonlyArray<string>;
}

/** zod's own wording for a size check ("Too small: expected number to be >=1"), said as a person would. */
function sizeExpected(issue: z.core.$ZodIssueTooSmall | z.core.$ZodIssueTooBig): string {
  if (!/^Too (small|big)/.test(issue.message)) return issue.message;
  const small = issue.code === 'too_small';
  const limit = small ? (issue as z.core.$ZodIssueTooSmall).minimum : (issue as z.core.$ZodIssueTooBig).maximum;
  const bound = issue.inclusive === false ? (small ? 'more than' : 'less than') : small ? 'at least' : 'at most';
  const unit = issue.origin === 'string' ? ' characters' : issue.origin === 'array' ? ' items' : '';
  return `expected ${bound} ${String(limit)}${unit}`;
}

/** `, got …` for a check that names what it expected only; nothing when the field is absent. */
function gotFor(issue: z.core.$ZodIssue, input: IssueInput | undefined): string {
  // A superRefine's issue carries the object it refined, not the field it names: only the document tells.
  const value =
    input?.root !== undefined
      ? valueAt(input.root, issue.path)
      : issue.code === 'custom' && issue.input !== null && typeof issue.input === 'object'
        ? undefined
        : issue.input;
  // A message that already quotes what it found ("no secret named …") says it once.
  if (value === undefined || (typeof value === 'string' && issue.message.includes(JSON.stringify(value)))) return '';
  return `, got ${found(value, issue.path, input?.hide, input?.root)}`;
}

function describeIssue(issue: z.core.$ZodIssue, input?: IssueInput): string {
  switch (issue.code) {
    case 'invalid_value':
      return `expected one of ${issue.values.map((v) => String(v)).join(', ')}, got ${found(issue.input, issue.path, [], input?.root)}`;
    case 'invalid_union':
      return 'discriminator' in issue && typeof issue.discriminator === 'string'
        ? unknownKind(issue, input?.root)
        : issue.message;
    case 'unrecognized_keys':
      return `unknown field${issue.keys.length > 1 ? 's' : ''} ${issue.keys.join(', ')}`;
    case 'invalid_type': {
      // A schema's own message ("expected a duration like 30s") says more than zod's "expected string".
      const expected = issue.message.startsWith('Invalid input') ? `expected ${issue.expected}` : issue.message;
      return issue.input === undefined
        ? `missing (${expected})`
        : `${expected}, got ${found(issue.input, issue.path, [], input?.root)}`;
    }
    // Checks whose own message says what was expected: add what was found.
    case 'invalid_format':
    case 'custom':
      return `${issue.message}${gotFor(issue, input)}`;
    case 'too_small':
    case 'too_big':
      return `${sizeExpected(issue)}${gotFor(issue, input)}`;
    default:
      return issue.message;
  }
}

/** A zod error as field-named issues, worded for a person; `input` lets them say what they found. */
export function issuesOf(error: z.ZodError, prefix: string[] = [], input?: IssueInput): Issue[] {
  return error.issues.map((i) => ({
    path: [...prefix, ...i.path.map(String)].join('.') || '(root)',
    message: describeIssue(i, input),
  }));
}

/** YAML aliases may expand a small file into a huge document (a "billion laughs"); real configs need few. */
const MAX_ALIASES = 100;

export interface OfflineCheck {
  /** The fields whose values come from unset environment variables: their own checks were skipped. */
  unchecked: Array<{ path: string; variable: string }>;
  /** Secrets valid by the L5 spec that this build cannot serve (a store it lacks): a load refuses them. */
  unavailable: Array<{ path: string; message: string }>;
  /** What the file asks that rotator's worker leaves to others (a dynamic secret its readers lease), per secret. */
  notes: Array<{ secret: string; message: string }>;
}

/**
 * Checks a config without its secrets, as a CI pipeline that has none would: an unset ${VAR} is noted instead of
 * refused, and only the checks of the field it feeds are skipped; everything else must hold.
 */
export function checkConfigOffline(text: string, env: Env = process.env, source = 'config'): OfflineCheck {
  const missing: Issue[] = [];
  const unavailable: Issue[] = [];
  try {
    parseDocumentWith(text, env, source, missing, unavailable);
  } catch (err) {
    if (!(err instanceof ConfigError)) throw err;
    const skipped = new Set(missing.map((m) => m.path));
    const left = err.issues.filter((i) => ![...skipped].some((p) => i.path === p || i.path.startsWith(`${p}.`)));
    if (left.length > 0) throw new ConfigError(left, source);
  }
  return {
    unchecked: missing.map((m) => ({ path: m.path, variable: m.message })),
    unavailable,
    notes: readerLeasedIn(text),
  };
}

/** The dynamic secrets of a file without publish: (its readers lease them), read from the document as rotator has it. */
function readerLeasedIn(text: string): Array<{ secret: string; message: string }> {
  const raw: unknown = parseDocument(text).toJS({ maxAliasCount: MAX_ALIASES });
  const doc = normalizeL5(raw, issuesOf).document as { secrets?: Record<string, unknown> } | null;
  const secrets = doc && typeof doc === 'object' && doc.secrets && typeof doc.secrets === 'object' ? doc.secrets : {};
  return Object.entries(secrets).flatMap(([secret, s]) =>
    s && typeof s === 'object' && readerLeased(s) ? [{ secret, message: READER_LEASED_NOTE }] : [],
  );
}

export function parseConfig(text: string, env: Env = process.env, source = 'config'): Config {
  return parseDocumentWith(text, env, source);
}

/**
 * With `missing`, unset variables are collected there (their variable name as the message) and become ''; with
 * `unavailable`, so are the L5 secrets this build has no store for, instead of refusing the file.
 */
function parseDocumentWith(text: string, env: Env, source: string, missing?: Issue[], unavailable?: Issue[]): Config {
  const doc = parseDocument(text, { prettyErrors: true, uniqueKeys: true });
  if (doc.errors.length > 0) {
    throw new ConfigError(
      [
        ...doc.errors.map((e) => ({ path: `line ${e.linePos?.[0].line ?? '?'}`, message: unquoted(e.message) })),
        ...(/\{[^}\n]*\$\{/.test(text)
          ? [{ path: 'hint', message: 'a ${VAR} inside a { … } flow mapping must be quoted: key: "${VAR}"' }]
          : []),
      ],
      source,
    );
  }
  const issues: Issue[] = [];
  const sensitive = new Set<string>();
  let raw: unknown;
  try {
    raw = doc.toJS({ maxAliasCount: MAX_ALIASES });
  } catch (err) {
    throw new ConfigError(
      [{ path: '(document)', message: `${(err as Error).message.split('\n')[0]} (at most ${MAX_ALIASES})` }],
      source,
    );
  }
  // Before interpolation: a value is judged sensitive by the field rotator keeps it in, not the spec's name for it.
  const l5 = normalizeL5(raw, issuesOf);
  const interpolated = interpolate(withBuiltInProviders(l5.document), env, [], issues, sensitive);
  for (const value of l5.sensitiveIn(interpolated)) if (value.length >= MIN_SECRET_LENGTH) sensitive.add(value);
  const scrub = (list: Issue[]) => list.map((i) => ({ path: i.path, message: redact(i.message, [...sensitive]) }));
  const written = (list: Issue[]) => list.map((i) => ({ path: l5.origin(i.path), message: i.message }));
  if (missing) missing.push(...written(issues).map((i) => ({ path: i.path, message: /variable (\S+)/.exec(i.message)![1] })));
  const early = [...l5.issues, ...(missing ? [] : written(issues))];
  if (early.length > 0) throw new ConfigError(scrub(early), source);
  if (unavailable) unavailable.push(...scrub(l5.deferred));
  const parsed = ConfigSchema.safeParse(interpolated, { reportInput: true });
  const shownFrom = { root: interpolated, hide: [...sensitive] };
  const refused = [
    ...(unavailable ? [] : l5.deferred),
    ...(parsed.success ? [] : written(issuesOf(parsed.error, [], shownFrom))),
  ];
  if (!parsed.success || refused.length > 0) throw new ConfigError(scrub(refused), source);
  SENSITIVE.set(parsed.data, [...sensitive]);
  return parsed.data;
}

export function readConfigFile(file: string): string {
  try {
    return readFileSync(file, 'utf8');
  } catch (err) {
    throw new RotatorError('CONFIG_INVALID', `cannot read config file: ${(err as NodeJS.ErrnoException).code ?? 'error'}`, file);
  }
}

export function loadConfig(file: string, env: Env = process.env): Config {
  return parseConfig(readConfigFile(file), env, file);
}
