// How a credential sits in a Kubernetes Secret: one data key per field, and rotator's bookkeeping in annotations.
import { createHash, randomBytes } from 'node:crypto';
import type * as k8s from '@kubernetes/client-node';
import { RotatorError } from '../../../src/kernel/errors';
import type { SecretValue } from '../../types';

export const MANAGED_BY = 'app.kubernetes.io/managed-by';
export const ROTATOR = 'rotator';

const PREFIX = 'rotator.dev/';
export const ANNOTATIONS = {
  /** The version id readers of this value get (current and previous Secrets). */
  version: `${PREFIX}version`,
  /** sha256 over version, numbers and data as rotator wrote them: data changed by anyone else no longer matches. */
  checksum: `${PREFIX}checksum`,
  /** Fields that were numbers (`port`), comma-separated: a Secret holds only bytes. */
  numbers: `${PREFIX}numbers`,
  publishedAt: `${PREFIX}published-at`,
  /** The rotation that made this value current, and how (`promoted` or `rolled-back`). */
  publishedBy: `${PREFIX}published-by`,
  phase: `${PREFIX}phase`,
  /** The version the last promote replaced (absent: there was none), or the one a rollback undid. */
  previousVersion: `${PREFIX}previous-version`,
  /** The pending Secret: whose claim it is and the version it was staged against (absent: none). */
  rotationId: `${PREFIX}rotation-id`,
  baseVersion: `${PREFIX}base-version`,
} as const;

export type Annotations = Record<string, string>;

/** A Secret's data key: what the API server accepts. */
const DATA_KEY = /^[-._a-zA-Z0-9]+$/;
/** Fields that name where and who, not a secret: left in error messages, everything else is scrubbed. */
const PLAIN_FIELDS = new Set(['username', 'engine', 'host', 'port', 'dbname']);

export function annotationsOf(secret: k8s.V1Secret | null): Annotations {
  return secret?.metadata?.annotations ?? {};
}

export function isManaged(secret: k8s.V1Secret): boolean {
  return secret.metadata?.labels?.[MANAGED_BY] === ROTATOR;
}

/**
 * The value as Secret data (base64 per field) and the fields that must read back as numbers. A field that reads the
 * same as in `copiedFrom` (the Secret the value was copied from) keeps that Secret's bytes exactly: data that is not
 * UTF-8 text (a keystore, a DER certificate) would not survive a round trip through text.
 */
export function encode(value: SecretValue, copiedFrom?: k8s.V1Secret | null): { data: Record<string, string>; numbers: string } {
  const data: Record<string, string> = {};
  const numbers: string[] = [];
  const before = copiedFrom ? decode(copiedFrom) : {};
  for (const [field, v] of Object.entries(value)) {
    if (v === undefined) continue;
    if (!DATA_KEY.test(field)) {
      throw new RotatorError(
        'CONFIG_INVALID',
        `field ${JSON.stringify(field)} cannot be a Secret data key (letters, digits, - _ .)`,
      );
    }
    if (typeof v !== 'string' && typeof v !== 'number') {
      throw new RotatorError(
        'CONFIG_INVALID',
        `field ${JSON.stringify(field)} holds a ${v === null ? 'null' : Array.isArray(v) ? 'list' : typeof v}; a Kubernetes Secret holds text (or a number) per key`,
      );
    }
    const raw = copiedFrom?.data?.[field];
    data[field] = raw !== undefined && before[field] === v ? raw : Buffer.from(String(v), 'utf8').toString('base64');
    if (typeof v === 'number') numbers.push(field);
  }
  return { data, numbers: numbers.sort().join(',') };
}

export function decode(secret: k8s.V1Secret): SecretValue {
  const numbers = new Set((annotationsOf(secret)[ANNOTATIONS.numbers] ?? '').split(',').filter(Boolean));
  const value: SecretValue = {};
  for (const [field, b64] of Object.entries(secret.data ?? {})) {
    const text = Buffer.from(b64, 'base64').toString('utf8');
    // Someone may have written "abc" into a number field: it then reads as the text it is.
    value[field] = numbers.has(field) && text !== '' && String(Number(text)) === text ? Number(text) : text;
  }
  return value;
}

type Kind = 'version' | 'pending';

/**
 * sha256 over `bound` (what the annotations claim about the data) and the data itself, as `sha256:<salt>:<hex>`. It
 * sits beside the data, which anyone who can read the Secret sees anyway, and is never logged; the random salt keeps
 * it from being looked up in precomputed tables (a tool that masks data but shows annotations) and two Secrets
 * holding the same value from showing the same checksum. `kind` keeps a pending Secret's from passing for a
 * published one.
 */
function checksum(
  kind: Kind,
  bound: ReadonlyArray<string>,
  data: Record<string, string>,
  salt = randomBytes(8).toString('hex'),
): string {
  const entries = Object.keys(data)
    .sort()
    .map((k) => [k, Buffer.from(data[k], 'base64').toString('base64')]);
  const digest = createHash('sha256')
    .update(JSON.stringify([kind, salt, bound, entries]))
    .digest('hex');
  return `sha256:${salt}:${digest}`;
}

function checksumMatches(
  kind: Kind,
  recorded: string | undefined,
  bound: ReadonlyArray<string>,
  data: Record<string, string>,
): boolean {
  const salt = /^sha256:([0-9a-f]{16}):[0-9a-f]{64}$/.exec(recorded ?? '')?.[1];
  return salt !== undefined && checksum(kind, bound, data, salt) === recorded;
}

/** The annotations of a published value (current or previous); `extra` is the rest of the record. */
export function versionAnnotations(
  version: string,
  numbers: string,
  data: Record<string, string>,
  extra: Annotations,
): Annotations {
  return {
    ...extra,
    [ANNOTATIONS.version]: version,
    ...(numbers ? { [ANNOTATIONS.numbers]: numbers } : {}),
    [ANNOTATIONS.checksum]: checksum('version', [version, numbers], data),
  };
}

export function pendingAnnotations(
  rotationId: string,
  baseVersion: string | null,
  numbers: string,
  data: Record<string, string>,
): Annotations {
  return {
    [ANNOTATIONS.rotationId]: rotationId,
    ...(baseVersion !== null ? { [ANNOTATIONS.baseVersion]: baseVersion } : {}),
    ...(numbers ? { [ANNOTATIONS.numbers]: numbers } : {}),
    [ANNOTATIONS.checksum]: checksum('pending', [rotationId, baseVersion ?? '', numbers], data),
  };
}

/** Whether the Secret's data is still what rotator wrote with its version annotation. */
export function versionIntact(secret: k8s.V1Secret): boolean {
  const a = annotationsOf(secret);
  const version = a[ANNOTATIONS.version];
  return (
    !!version && checksumMatches('version', a[ANNOTATIONS.checksum], [version, a[ANNOTATIONS.numbers] ?? ''], secret.data ?? {})
  );
}

export function pendingIntact(secret: k8s.V1Secret): boolean {
  const a = annotationsOf(secret);
  const bound = [a[ANNOTATIONS.rotationId] ?? '', a[ANNOTATIONS.baseVersion] ?? '', a[ANNOTATIONS.numbers] ?? ''];
  return checksumMatches('pending', a[ANNOTATIONS.checksum], bound, secret.data ?? {});
}

/**
 * The version readers of this Secret get. Data rotator did not write (kubectl edit, another tool, a Secret adopted as
 * it was) reads as a version of its own, named by the resourceVersion, so a promote expecting rotator's version fails.
 */
export function versionOf(secret: k8s.V1Secret): string {
  return versionIntact(secret) ? annotationsOf(secret)[ANNOTATIONS.version] : `rv-${secret.metadata?.resourceVersion ?? '0'}`;
}

/** When this Secret's value was written: rotator's record if the data is its own, else the API server's last write. */
export function writtenAt(secret: k8s.V1Secret): number | null {
  const recorded = annotationsOf(secret)[ANNOTATIONS.publishedAt];
  if (versionIntact(secret) && recorded && !Number.isNaN(Date.parse(recorded))) return Date.parse(recorded);
  const times = (secret.metadata?.managedFields ?? []).map((f) => (f.time ? new Date(f.time).getTime() : NaN));
  const created = secret.metadata?.creationTimestamp ? new Date(secret.metadata.creationTimestamp).getTime() : NaN;
  const latest = Math.max(...[...times, created].filter((t) => !Number.isNaN(t)));
  return Number.isFinite(latest) ? latest : null;
}

/** Every string of a value that may be secret, raw and as base64, for scrubbing API error messages. */
export function secretStrings(data: Record<string, string>): string[] {
  return Object.entries(data)
    .filter(([field]) => !PLAIN_FIELDS.has(field))
    .flatMap(([, b64]) => [Buffer.from(b64, 'base64').toString('utf8'), b64])
    .filter((s) => s.length >= 4);
}

/**
 * The Secret to write: a new one, or `existing` with its data replaced and rotator's annotations set (its other
 * labels, annotations, type and resourceVersion kept, so the replace is conditioned on what was read).
 */
export function secretBody(
  at: { namespace: string; name: string },
  existing: k8s.V1Secret | null,
  data: Record<string, string>,
  ours: Annotations,
  typeForNew = 'Opaque',
): k8s.V1Secret {
  if (!existing) {
    return {
      apiVersion: 'v1',
      kind: 'Secret',
      metadata: { name: at.name, namespace: at.namespace, labels: { [MANAGED_BY]: ROTATOR }, annotations: ours },
      type: typeForNew,
      data,
    };
  }
  const { stringData: _stringData, ...rest } = existing;
  const { managedFields: _managedFields, ...metadata } = existing.metadata ?? {};
  const foreign = Object.fromEntries(Object.entries(metadata.annotations ?? {}).filter(([k]) => !k.startsWith(PREFIX)));
  return {
    ...rest,
    apiVersion: 'v1',
    kind: 'Secret',
    metadata: { ...metadata, labels: { ...metadata.labels, [MANAGED_BY]: ROTATOR }, annotations: { ...foreign, ...ours } },
    data,
  };
}
