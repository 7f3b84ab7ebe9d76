// Kubernetes Secrets store: `<name>` is current, `<name>-previous` the value it replaced, `<name>-rotator-pending` the claim.
import { randomBytes } from 'node:crypto';
import type * as k8s from '@kubernetes/client-node';
import { RotatorError } from '../../../src/kernel/errors';
import { kubeError, statusOf, type KubeClients } from '../../kubernetes/client';
import { claimPendingSlot, type StalePendingOptions } from '../stale-pending';
import { movedSincePublish, versionGone } from '../store-errors';
import type { Pending, PromoteResult, SecretStore, SecretValue, Versioned, WriteGate } from '../../types';
import { CAPABILITIES, parseSecretPath, PENDING_SUFFIX, PREVIOUS_SUFFIX } from './index';
import {
  ANNOTATIONS,
  annotationsOf,
  decode,
  encode,
  isManaged,
  MANAGED_BY,
  pendingAnnotations,
  pendingIntact,
  secretBody,
  secretStrings,
  versionAnnotations,
  versionOf,
  writtenAt,
  type Annotations,
} from './layout';

export interface KubernetesStoreOptions extends StalePendingOptions {
  clients: KubeClients;
  /** For paths that name no namespace. */
  namespace: string;
  /** Take over existing Secrets without rotator's managed-by label (default: refuse to write them). */
  adopt?: boolean;
}

/** The three Secrets of one secret path. */
interface Location {
  path: string;
  namespace: string;
  current: string;
  previous: string;
  pending: string;
}

interface Found {
  current: k8s.V1Secret | null;
  previous: k8s.V1Secret | null;
  pending: k8s.V1Secret | null;
}

export class KubernetesStore implements SecretStore {
  readonly capabilities = CAPABILITIES;

  /** Called before each write request (a mass rotation's write budget); set on a gated copy only. */
  private gate: WriteGate | undefined;

  constructor(private readonly options: KubernetesStoreOptions) {}

  /** The same store and clients, each create, replace and delete taking a token from `gate` first. */
  withWriteGate(gate: WriteGate): SecretStore {
    const gated = Object.create(this) as KubernetesStore;
    gated.gate = gate;
    return gated;
  }

  private locate(path: string): Location {
    const { namespace, name } = parseSecretPath(path, this.options.namespace);
    return { path, namespace, current: name, previous: `${name}${PREVIOUS_SUFFIX}`, pending: `${name}${PENDING_SUFFIX}` };
  }

  private async get(namespace: string, name: string): Promise<k8s.V1Secret | null> {
    try {
      return await this.options.clients.core.readNamespacedSecret({ name, namespace });
    } catch (err) {
      if (statusOf(err) === 404) return null;
      throw kubeError(err, `read Secret ${namespace}/${name}`);
    }
  }

  private async read(at: Location, which: ReadonlyArray<keyof Found>): Promise<Found> {
    const found: Found = { current: null, previous: null, pending: null };
    await Promise.all(which.map(async (w) => (found[w] = await this.get(at.namespace, at[w]))));
    return found;
  }

  /** rotator never overwrites a Secret someone else made, unless the provider says `adopt: true`. */
  private assertMayWrite(at: Location, secrets: ReadonlyArray<k8s.V1Secret | null>): void {
    if (this.options.adopt) return;
    for (const secret of secrets) {
      if (!secret || isManaged(secret)) continue;
      const owner = secret.metadata?.labels?.[MANAGED_BY];
      throw new RotatorError(
        'CONFLICT',
        `${at.path}: Secret ${at.namespace}/${secret.metadata?.name} exists and is not managed by rotator (no label ${MANAGED_BY}=rotator${owner ? `; it is managed by ${owner}` : ''}), so rotator leaves it alone; set adopt: true on the provider to let rotator manage it`,
      );
    }
  }

  /**
   * Creates the Secret `name`, or replaces `existing` conditioned on the resourceVersion it was read at: a writer in
   * between makes it fail with CONFLICT, and nothing of theirs is overwritten.
   */
  private async write(
    at: Location,
    name: string,
    existing: k8s.V1Secret | null,
    data: Record<string, string>,
    ours: Annotations,
    typeForNew?: string,
  ): Promise<void> {
    const { namespace } = at;
    const body = secretBody({ namespace, name }, existing, data, ours, typeForNew);
    const secrets = secretStrings(data);
    const { core } = this.options.clients;
    const release = await this.gate?.();
    try {
      if (existing) await core.replaceNamespacedSecret({ name, namespace, body });
      else await core.createNamespacedSecret({ namespace, body });
      release?.();
    } catch (err) {
      release?.();
      const e = scrub(kubeError(err, `${existing ? 'replace' : 'create'} Secret ${namespace}/${name}`), secrets);
      if (e.code !== 'CONFLICT') throw e;
      throw new RotatorError(
        'CONFLICT',
        existing
          ? `${at.path}: Secret ${namespace}/${name} was changed by another writer after rotator read it (resourceVersion ${existing.metadata?.resourceVersion}); rotator did not overwrite it`
          : `${at.path}: Secret ${namespace}/${name} was created by another writer while rotator was creating it; rotator did not overwrite it`,
      );
    }
  }

  /** Deletes exactly the Secret that was read (a precondition on its resourceVersion); already gone is success. */
  private async remove(at: Location, secret: k8s.V1Secret): Promise<void> {
    const name = secret.metadata?.name ?? '';
    const preconditions = { resourceVersion: secret.metadata?.resourceVersion, uid: secret.metadata?.uid };
    const release = await this.gate?.();
    try {
      await this.options.clients.core.deleteNamespacedSecret({ name, namespace: at.namespace, body: { preconditions } });
      release?.();
    } catch (err) {
      release?.();
      if (statusOf(err) === 404) return;
      const e = kubeError(err, `delete Secret ${at.namespace}/${name}`);
      if (e.code !== 'CONFLICT') throw e;
      throw new RotatorError(
        'CONFLICT',
        `${at.path}: Secret ${at.namespace}/${name} was changed by another writer after rotator read it; rotator did not delete it`,
      );
    }
  }

  async readCurrent(path: string): Promise<Versioned<SecretValue> | null> {
    const at = this.locate(path);
    const current = await this.get(at.namespace, at.current);
    return current ? { version: versionOf(current), value: decode(current) } : null;
  }

  async readVersion(path: string, version: string): Promise<SecretValue | null> {
    const { current, previous } = await this.read(this.locate(path), ['current', 'previous']);
    for (const secret of [current, previous]) if (secret && versionOf(secret) === version) return decode(secret);
    return null;
  }

  async publishedAt(path: string): Promise<number | null> {
    const at = this.locate(path);
    const current = await this.get(at.namespace, at.current);
    return current ? writtenAt(current) : null;
  }

  /** The pending Secret's value if it is this rotation's claim; CONFLICT if someone changed its data since. */
  private pendingOf(at: Location, pending: k8s.V1Secret | null, rotationId: string): Pending | null {
    const a = annotationsOf(pending);
    if (!pending || a[ANNOTATIONS.rotationId] !== rotationId) return null;
    if (!pendingIntact(pending)) {
      // Publishing it would put a value on readers that the target never got.
      throw new RotatorError(
        'CONFLICT',
        `${at.path}: Secret ${at.namespace}/${at.pending} (this rotation's pending value) was changed outside rotator; not using it`,
      );
    }
    return { value: decode(pending), baseVersion: a[ANNOTATIONS.baseVersion] ?? null };
  }

  private holderOf(pending: k8s.V1Secret | null): string | null {
    return pending ? (annotationsOf(pending)[ANNOTATIONS.rotationId] ?? '(unknown)') : null;
  }

  async stagePending(path: string, rotationId: string, value: SecretValue, baseVersion: string | null): Promise<void> {
    const at = this.locate(path);
    const found = await this.read(at, ['current', 'previous', 'pending']);
    // Refused here rather than at promote: by then the target would already have the new password.
    this.assertMayWrite(at, [found.current, found.previous, found.pending]);
    // Fields copied from the current Secret keep its bytes (see encode).
    const { data, numbers } = encode(value, found.current);
    const annotations = pendingAnnotations(rotationId, baseVersion, numbers, data);
    const where = `Secret ${at.namespace}/${at.pending}`;
    await claimPendingSlot(this.options, {
      path,
      rotationId,
      holder: this.holderOf(found.pending),
      where,
      fields: { pendingSecret: `${at.namespace}/${at.pending}` },
      howToRemove: `kubectl -n ${at.namespace} delete secret ${at.pending}`,
      create: () => this.write(at, at.pending, null, data, annotations), // a create: 409 if it exists
      overwrite: () => this.write(at, at.pending, found.pending, data, annotations),
      ours: async () => (await this.readPending(path, rotationId)) !== null,
      other: () => this.otherPending(path, rotationId),
    });
  }

  async readPending(path: string, rotationId: string): Promise<Pending | null> {
    const at = this.locate(path);
    return this.pendingOf(at, await this.get(at.namespace, at.pending), rotationId);
  }

  async otherPending(path: string, rotationId: string): Promise<string | null> {
    const at = this.locate(path);
    const holder = this.holderOf(await this.get(at.namespace, at.pending));
    return holder === rotationId ? null : holder;
  }

  async discardPending(path: string, rotationId: string): Promise<void> {
    const at = this.locate(path);
    for (let attempt = 0; ; attempt++) {
      const pending = await this.get(at.namespace, at.pending);
      if (!pending || this.holderOf(pending) !== rotationId) return; // someone else's (or nothing): not ours to remove
      try {
        return await this.remove(at, pending);
      } catch (err) {
        // Changed between our read and the delete: look again at whose it is now.
        if (attempt > 0 || !(err instanceof RotatorError && err.code === 'CONFLICT')) throw err;
      }
    }
  }

  /** What the current Secret records of its last promote, if this rotation made it. */
  private publishedIn(current: k8s.V1Secret | null, rotationId: string): PromoteResult | null {
    const a = annotationsOf(current);
    if (!current || a[ANNOTATIONS.publishedBy] !== rotationId || a[ANNOTATIONS.phase] !== 'promoted') return null;
    const version = a[ANNOTATIONS.version];
    return version ? { version, previousVersion: a[ANNOTATIONS.previousVersion] ?? null } : null;
  }

  async publishedBy(path: string, rotationId: string): Promise<PromoteResult | null> {
    const at = this.locate(path);
    return this.publishedIn(await this.get(at.namespace, at.current), rotationId);
  }

  /**
   * Two writes, previous first: a worker that dies between them leaves current untouched (and previous holding a
   * copy of it, which readers of either may use), so the promote run again does the same. The replace of current,
   * conditioned on what was read, is the one step that publishes.
   */
  async promote(path: string, rotationId: string, expectedCurrent: string | null): Promise<PromoteResult> {
    const at = this.locate(path);
    const { current, previous, pending } = await this.read(at, ['current', 'previous', 'pending']);
    const published = this.publishedIn(current, rotationId);
    if (published) return published;
    if (!pending || !this.pendingOf(at, pending, rotationId))
      throw new RotatorError('NOT_FOUND', `no pending credential of this rotation at ${path}`);
    const found = current ? versionOf(current) : null;
    if (found !== expectedCurrent) {
      const outside = found?.startsWith('rv-') ? ' (its data was written outside rotator)' : '';
      throw new RotatorError(
        'CONFLICT',
        `${path} changed during rotation: expected version ${expectedCurrent ?? '(none)'}, found ${found ?? '(none)'}${outside}`,
      );
    }
    this.assertMayWrite(at, [current, previous]);

    if (current) {
      const data = current.data ?? {};
      const numbers = annotationsOf(current)[ANNOTATIONS.numbers] ?? '';
      const written = writtenAt(current);
      const extra: Annotations = written !== null ? { [ANNOTATIONS.publishedAt]: new Date(written).toISOString() } : {};
      await this.write(at, at.previous, previous, data, versionAnnotations(found!, numbers, data, extra), current.type);
    } else if (previous) {
      // A first value has no previous one: a leftover from before the Secret was deleted must not be served as it.
      await this.remove(at, previous);
    }

    const version = randomBytes(6).toString('hex');
    const data = pending.data ?? {};
    const record: Annotations = {
      [ANNOTATIONS.publishedAt]: new Date().toISOString(),
      [ANNOTATIONS.publishedBy]: rotationId,
      [ANNOTATIONS.phase]: 'promoted',
      ...(expectedCurrent !== null ? { [ANNOTATIONS.previousVersion]: expectedCurrent } : {}),
    };
    const numbers = annotationsOf(pending)[ANNOTATIONS.numbers] ?? '';
    await this.write(at, at.current, current, data, versionAnnotations(version, numbers, data, record));
    return { version, previousVersion: expectedCurrent };
  }

  /**
   * Current gets the value of `<name>-previous` back, with its version; previous keeps it too, so readers of either
   * hold a credential that works. A first-ever value (toVersion null) is undone by deleting the Secret.
   */
  async rollback(path: string, rotationId: string, versions: { toVersion: string | null; fromVersion: string }): Promise<void> {
    const at = this.locate(path);
    const { current, previous } = await this.read(at, ['current', 'previous']);
    const a = annotationsOf(current);
    if (current && a[ANNOTATIONS.publishedBy] === rotationId && a[ANNOTATIONS.phase] === 'rolled-back') return;
    const found = current ? versionOf(current) : null;
    if (found === versions.toVersion) return; // already back (a retry whose first attempt deleted the Secret)
    if (found !== versions.fromVersion) throw movedSincePublish(path, found);
    this.assertMayWrite(at, [current]);
    if (versions.toVersion === null) return this.remove(at, current!);
    if (!previous || versionOf(previous) !== versions.toVersion) throw versionGone(path, versions.toVersion);
    const data = previous.data ?? {};
    const p = annotationsOf(previous);
    const record: Annotations = {
      ...(p[ANNOTATIONS.publishedAt] ? { [ANNOTATIONS.publishedAt]: p[ANNOTATIONS.publishedAt] } : {}),
      [ANNOTATIONS.publishedBy]: rotationId,
      [ANNOTATIONS.phase]: 'rolled-back',
      [ANNOTATIONS.previousVersion]: versions.fromVersion,
    };
    await this.write(
      at,
      at.current,
      current,
      data,
      versionAnnotations(versions.toVersion, p[ANNOTATIONS.numbers] ?? '', data, record),
    );
  }

  async close(): Promise<void> {
    // The client opens a connection per request; there is nothing to hold open.
  }
}

/** API errors name objects, not data; still, no value this store was writing leaves in one. */
function scrub(err: RotatorError, secrets: ReadonlyArray<string>): RotatorError {
  let message = err.message;
  for (const s of secrets) message = message.split(s).join('[redacted]');
  return message === err.message ? err : new RotatorError(err.code, message);
}
