// GCP Secret Manager store: readers take `latest` of `<id>`; each publish adds a version; pending lives in `<id>-rotator-pending`.
import { SecretManagerServiceClient, type protos } from '@google-cloud/secret-manager';
import type { ChannelCredentials } from '@grpc/grpc-js';
import { RotatorError, type ErrorCode } from '../../../src/kernel/errors';
import { redact } from '../../../src/kernel/redact';
import { claimPendingSlot, type StalePendingOptions } from '../stale-pending';
import { parseSecretJson, secretsOf } from '../json-value';
import { movedSincePublish, versionGone } from '../store-errors';
import type { Pending, PromoteResult, SecretStore, SecretValue, Versioned } from '../../types';
import { CAPABILITIES, PENDING_SUFFIX, secretIdOf } from './index';

type Secret = protos.google.cloud.secretmanager.v1.ISecret;

export interface GcpSecretManagerOptions extends StalePendingOptions {
  project: string;
  /** A service account key; without it, Application Default Credentials. */
  keyFilename?: string;
  /** Default secretmanager.googleapis.com:443. */
  apiEndpoint?: string;
  port?: number;
  /** Channel credentials used instead of TLS with Google auth (which are then not asked for): an emulator's or a test's. */
  sslCreds?: ChannelCredentials;
}

/**
 * rotator's bookkeeping, as annotations on the Secret (versions carry none). Keys begin and end with an alphanumeric
 * and may hold `.`, so they are namespaced by a `rotator.` prefix; every update carries the etag it read.
 */
const ANN = {
  /** Written before a publish adds its version, so a worker dying in between leaves a record to finish from. */
  promoting: 'rotator.promoting',
  promotingAfter: 'rotator.promoting-after',
  publishedBy: 'rotator.published-by',
  publishedVersion: 'rotator.published-version',
  previousVersion: 'rotator.previous-version',
  rollingBack: 'rotator.rolling-back',
  rolledBackBy: 'rotator.rolled-back-by',
  /** On `<id>-rotator-pending`: whose claim it is, and the version it was staged against. */
  rotation: 'rotator.rotation',
  base: 'rotator.base',
} as const;
const NONE = 'none';
const OURS = Object.values(ANN) as string[];

/** gRPC status codes (google.rpc.Code). */
const GRPC = {
  INVALID_ARGUMENT: 3,
  NOT_FOUND: 5,
  ALREADY_EXISTS: 6,
  PERMISSION_DENIED: 7,
  FAILED_PRECONDITION: 9,
  ABORTED: 10,
  UNAUTHENTICATED: 16,
} as const;

interface GrpcErrorShape {
  code?: number | string;
  details?: string;
  message?: string;
}

function grpcCode(err: unknown): number | undefined {
  const code = (err as GrpcErrorShape | undefined)?.code;
  return typeof code === 'number' ? code : undefined;
}

/**
 * Secret Manager errors name resources, not payloads; the message is still redacted with the values held, and the
 * SDK's error object (with its metadata) is dropped.
 */
function gcpError(err: unknown, action: string, secrets: ReadonlyArray<string | undefined> = []): RotatorError {
  if (err instanceof RotatorError) return err;
  const e = (err ?? {}) as GrpcErrorShape;
  const text = redact(`${action} failed: ${(e.details || e.message || String(err)).split('\n')[0]}`, secrets);
  const code: ErrorCode = (() => {
    switch (grpcCode(err)) {
      case GRPC.INVALID_ARGUMENT:
        return 'CONFIG_INVALID';
      case GRPC.NOT_FOUND:
        return 'NOT_FOUND';
      case GRPC.ALREADY_EXISTS:
      case GRPC.FAILED_PRECONDITION: // an etag that no longer matches, or a version not enabled
      case GRPC.ABORTED:
        return 'CONFLICT';
      case GRPC.PERMISSION_DENIED:
      case GRPC.UNAUTHENTICATED:
        return 'PERMISSION_DENIED';
      case undefined:
        // google-auth-library: no Application Default Credentials, or an unreadable key file.
        return /credentials|key ?file|ENOENT/i.test(text) ? 'CONFIG_INVALID' : 'TRANSIENT';
      default:
        return 'TRANSIENT';
    }
  })();
  return new RotatorError(code, text);
}

/** CRC32C (Castagnoli), which Secret Manager checks a payload against when the request carries it. */
const CRC32C_TABLE = (() => {
  const table = new Uint32Array(256);
  for (let n = 0; n < 256; n++) {
    let c = n;
    for (let k = 0; k < 8; k++) c = c & 1 ? (c >>> 1) ^ 0x82f63b78 : c >>> 1;
    table[n] = c >>> 0;
  }
  return table;
})();

export function crc32c(data: Uint8Array): number {
  let crc = 0xffffffff;
  for (const byte of data) crc = CRC32C_TABLE[(crc ^ byte) & 0xff]! ^ (crc >>> 8);
  return (crc ^ 0xffffffff) >>> 0;
}

function numberOf(versionName: string | null | undefined): number | null {
  const m = /\/versions\/(\d+)$/.exec(versionName ?? '');
  return m ? Number(m[1]) : null;
}

function millisOf(t: protos.google.protobuf.ITimestamp | null | undefined): number | null {
  if (!t?.seconds) return null;
  const seconds = typeof t.seconds === 'object' ? Number(t.seconds.toString()) : Number(t.seconds);
  return seconds * 1000 + Math.floor((t.nanos ?? 0) / 1e6);
}

const isEnabled = (state: unknown): boolean => state === 'ENABLED' || state === 1;

interface Latest {
  number: number;
  enabled: boolean;
  createdAt: number | null;
}

export class GcpSecretManagerStore implements SecretStore {
  /** Declared by the plugin (./index). */
  readonly capabilities = CAPABILITIES;
  private readonly client: SecretManagerServiceClient;

  constructor(private readonly options: GcpSecretManagerOptions) {
    this.client = new SecretManagerServiceClient({
      projectId: options.project,
      ...(options.keyFilename ? { keyFilename: options.keyFilename } : {}),
      ...(options.apiEndpoint ? { apiEndpoint: options.apiEndpoint } : {}),
      ...(options.port ? { port: options.port } : {}),
      ...(options.sslCreds ? { sslCreds: options.sslCreds } : {}),
    });
  }

  private name(id: string): string {
    return `projects/${this.options.project}/secrets/${id}`;
  }

  private async getSecret(id: string): Promise<Secret | null> {
    try {
      const [secret] = await this.client.getSecret({ name: this.name(id) });
      return secret;
    } catch (err) {
      if (grpcCode(err) === GRPC.NOT_FOUND) return null;
      throw gcpError(err, `read the secret ${id}`);
    }
  }

  /** The version `latest` names (the most recently added, whatever its state); null without secret or versions. */
  private async latest(id: string): Promise<Latest | null> {
    try {
      const [v] = await this.client.getSecretVersion({ name: `${this.name(id)}/versions/latest` });
      const number = numberOf(v.name);
      if (number === null) throw new RotatorError('TRANSIENT', `Secret Manager named no version number for ${id}`);
      return { number, enabled: isEnabled(v.state), createdAt: millisOf(v.createTime) };
    } catch (err) {
      if (grpcCode(err) === GRPC.NOT_FOUND) return null;
      throw gcpError(err, `read the latest version of ${id}`);
    }
  }

  /** A version's payload as text; null when there is none to read (missing, disabled or destroyed). */
  private async access(id: string, version: number | 'latest'): Promise<string | null> {
    try {
      const [out] = await this.client.accessSecretVersion({ name: `${this.name(id)}/versions/${version}` });
      const data = out.payload?.data;
      if (!data) return null;
      const bytes = typeof data === 'string' ? Buffer.from(data, 'base64') : Buffer.from(data);
      const sum = out.payload?.dataCrc32c;
      if (sum !== null && sum !== undefined && Number(sum.toString()) !== crc32c(bytes)) {
        throw new RotatorError('TRANSIENT', `version ${version} of ${id} arrived corrupted (CRC32C mismatch)`);
      }
      return bytes.toString('utf8');
    } catch (err) {
      const code = grpcCode(err);
      if (code === GRPC.NOT_FOUND || code === GRPC.FAILED_PRECONDITION) return null;
      throw gcpError(err, `read version ${version} of ${id}`);
    }
  }

  private async add(id: string, value: SecretValue, action: string): Promise<number> {
    const data = Buffer.from(JSON.stringify(value), 'utf8');
    try {
      const [v] = await this.client.addSecretVersion({ parent: this.name(id), payload: { data, dataCrc32c: crc32c(data) } });
      const number = numberOf(v.name);
      if (number === null) throw new RotatorError('TRANSIENT', `${action}: Secret Manager named no version number`);
      return number;
    } catch (err) {
      throw gcpError(err, action, secretsOf(value));
    }
  }

  private async create(id: string, annotations: Record<string, string>, action: string): Promise<void> {
    try {
      await this.client.createSecret({
        parent: `projects/${this.options.project}`,
        secretId: id,
        secret: { replication: { automatic: {} }, labels: { 'managed-by': 'rotator' }, annotations },
      });
    } catch (err) {
      if (grpcCode(err) === GRPC.ALREADY_EXISTS)
        throw new RotatorError('CONFLICT', `${action}: the secret ${id} was created by another writer meanwhile`);
      throw gcpError(err, action);
    }
  }

  /** Rewrites rotator's annotations (others' are kept), conditioned on the etag read; retried when someone else's edit won. */
  private async annotate(
    id: string,
    change: (ours: Record<string, string>) => Record<string, string>,
    action: string,
  ): Promise<void> {
    for (let attempt = 0; ; attempt++) {
      const secret = await this.getSecret(id);
      if (!secret) throw new RotatorError('NOT_FOUND', `${action}: the secret ${id} no longer exists`);
      const all = secret.annotations ?? {};
      const others = Object.fromEntries(Object.entries(all).filter(([k]) => !OURS.includes(k)));
      const ours = Object.fromEntries(Object.entries(all).filter(([k]) => OURS.includes(k)));
      try {
        await this.client.updateSecret({
          secret: { name: this.name(id), annotations: { ...others, ...change(ours) }, etag: secret.etag ?? '' },
          updateMask: { paths: ['annotations'] },
        });
        return;
      } catch (err) {
        if (grpcCode(err) !== GRPC.FAILED_PRECONDITION || attempt >= 2) throw gcpError(err, action);
      }
    }
  }

  private async disable(id: string, version: number, action: string): Promise<void> {
    try {
      await this.client.disableSecretVersion({ name: `${this.name(id)}/versions/${version}` });
    } catch (err) {
      throw gcpError(err, action);
    }
  }

  async readCurrent(path: string): Promise<Versioned<SecretValue> | null> {
    const id = secretIdOf(path);
    const latest = await this.latest(id);
    // A disabled `latest` serves readers nothing: rotator reads it as no value (how a first publish is undone).
    if (!latest?.enabled) return null;
    const text = await this.access(id, latest.number);
    if (text === null) return null;
    return { version: String(latest.number), value: parseSecretJson(text, `version ${latest.number} of ${path}`) };
  }

  async publishedAt(path: string): Promise<number | null> {
    const latest = await this.latest(secretIdOf(path));
    return latest?.enabled ? latest.createdAt : null;
  }

  async readVersion(path: string, version: string): Promise<SecretValue | null> {
    if (!/^[1-9]\d{0,17}$/.test(version)) return null; // not a version number
    const text = await this.access(secretIdOf(path), Number(version));
    return text === null ? null : parseSecretJson(text, `version ${version} of ${path}`);
  }

  // -- the pending slot: the secret `<id>-rotator-pending`, created once per claim ---------------------------------

  private holderOf(pending: Secret | null): string | null {
    return pending ? (pending.annotations?.[ANN.rotation] ?? '(unknown)') : null;
  }

  /** CreateSecret fails with ALREADY_EXISTS when the id is taken: of two rotations creating it, exactly one gets it. */
  private async createPending(path: string, rotationId: string, value: SecretValue, base: string | null): Promise<void> {
    const pendingId = secretIdOf(path) + PENDING_SUFFIX;
    await this.create(pendingId, { [ANN.rotation]: rotationId, [ANN.base]: base ?? NONE }, `stage pending of ${path}`);
    await this.add(pendingId, value, `stage pending of ${path}`);
  }

  /** Deletes exactly the pending secret that was read (its etag); already gone is success. */
  private async deletePending(pendingId: string, secret: Secret): Promise<void> {
    try {
      await this.client.deleteSecret({ name: this.name(pendingId), etag: secret.etag ?? '' });
    } catch (err) {
      if (grpcCode(err) === GRPC.NOT_FOUND) return;
      throw gcpError(err, `delete the secret ${pendingId}`);
    }
  }

  async stagePending(path: string, rotationId: string, value: SecretValue, baseVersion: string | null): Promise<void> {
    const pendingId = secretIdOf(path) + PENDING_SUFFIX;
    const pending = await this.getSecret(pendingId);
    const holder = this.holderOf(pending);
    if (holder === rotationId) {
      // Ours: keep its value; a worker that died between the create and the add left no value yet.
      if ((await this.access(pendingId, 'latest')) === null) await this.add(pendingId, value, `stage pending of ${path}`);
      return;
    }
    await claimPendingSlot(this.options, {
      path,
      rotationId,
      holder,
      where: `the secret ${pendingId}`,
      fields: { pendingSecret: pendingId },
      howToRemove: `gcloud secrets delete ${pendingId} --project ${this.options.project}`,
      create: () => this.createPending(path, rotationId, value, baseVersion),
      overwrite: async () => {
        await this.deletePending(pendingId, pending!);
        await this.createPending(path, rotationId, value, baseVersion);
      },
      ours: async () => (await this.readPending(path, rotationId)) !== null,
      other: () => this.otherPending(path, rotationId),
    });
  }

  async readPending(path: string, rotationId: string): Promise<Pending | null> {
    const pendingId = secretIdOf(path) + PENDING_SUFFIX;
    const pending = await this.getSecret(pendingId);
    if (this.holderOf(pending) !== rotationId) return null;
    const text = await this.access(pendingId, 'latest');
    if (text === null) return null;
    const base = pending!.annotations?.[ANN.base];
    return { value: parseSecretJson(text, `the secret ${pendingId}`), baseVersion: base && base !== NONE ? base : null };
  }

  async otherPending(path: string, rotationId: string): Promise<string | null> {
    const holder = this.holderOf(await this.getSecret(secretIdOf(path) + PENDING_SUFFIX));
    return holder === rotationId ? null : holder;
  }

  async discardPending(path: string, rotationId: string): Promise<void> {
    const pendingId = secretIdOf(path) + PENDING_SUFFIX;
    for (let attempt = 0; ; attempt++) {
      const pending = await this.getSecret(pendingId);
      if (this.holderOf(pending) !== rotationId) return; // someone else's (or nothing): not ours to remove
      try {
        return await this.deletePending(pendingId, pending!);
      } catch (err) {
        // Changed between our read and the delete: look again at whose it is now.
        if (attempt > 0 || !(err instanceof RotatorError && err.code === 'CONFLICT')) throw err;
      }
    }
  }

  // -- publishing: versions of `<id>` -----------------------------------------------------------------------------

  /**
   * The version this rotation added, when its promote recorded only its intent (a worker died before the record):
   * the latest version, if it is newer than what was latest then and holds exactly the pending value.
   */
  private async unrecordedPublish(path: string, secret: Secret, rotationId: string): Promise<number | null> {
    const a = secret.annotations ?? {};
    if (a[ANN.promoting] !== rotationId) return null;
    const id = secretIdOf(path);
    const pending = await this.readPending(path, rotationId);
    const latest = await this.latest(id);
    if (!pending || !latest || latest.number <= Number(a[ANN.promotingAfter] ?? Infinity)) return null;
    return (await this.access(id, latest.number)) === JSON.stringify(pending.value) ? latest.number : null;
  }

  private recorded(secret: Secret | null, rotationId: string): PromoteResult | null {
    const a = secret?.annotations ?? {};
    if (a[ANN.rolledBackBy] === rotationId || a[ANN.publishedBy] !== rotationId || !a[ANN.publishedVersion]) return null;
    const previous = a[ANN.previousVersion];
    return { version: a[ANN.publishedVersion]!, previousVersion: previous && previous !== NONE ? previous : null };
  }

  async publishedBy(path: string, rotationId: string): Promise<PromoteResult | null> {
    const secret = await this.getSecret(secretIdOf(path));
    if (!secret) return null;
    const done = this.recorded(secret, rotationId);
    if (done) return done;
    const added = await this.unrecordedPublish(path, secret, rotationId);
    if (added === null) return null;
    const base = secret.annotations?.[ANN.previousVersion];
    return { version: String(added), previousVersion: base && base !== NONE ? base : null };
  }

  private record(id: string, rotationId: string, version: number, previous: string | null): Promise<void> {
    return this.annotate(
      id,
      () => ({
        [ANN.publishedBy]: rotationId,
        [ANN.publishedVersion]: String(version),
        [ANN.previousVersion]: previous ?? NONE,
      }),
      `record the publish of version ${version} of ${id}`,
    );
  }

  /**
   * Checks that `latest` is the expected version, records the intent, adds the pending value as a new version,
   * then records the publish. AddSecretVersion takes no condition, but version numbers are sequential: if ours is
   * not the one right after what was latest, another writer added versions in between. Its value is then added again
   * on top (so it stays current), ours is disabled, and the promote fails with CONFLICT; readers may have been
   * served ours for that moment.
   */
  async promote(path: string, rotationId: string, expectedCurrent: string | null): Promise<PromoteResult> {
    const id = secretIdOf(path);
    const secret = await this.getSecret(id);
    const done = this.recorded(secret, rotationId);
    if (done) return done;
    const pending = await this.readPending(path, rotationId);
    if (!pending) throw new RotatorError('NOT_FOUND', `no pending credential of this rotation at ${path}`);
    const unrecorded = secret ? await this.unrecordedPublish(path, secret, rotationId) : null;
    if (unrecorded !== null) {
      await this.record(id, rotationId, unrecorded, expectedCurrent);
      return { version: String(unrecorded), previousVersion: expectedCurrent };
    }
    const latest = await this.latest(id);
    const found = latest?.enabled ? String(latest.number) : null;
    if (found !== expectedCurrent) {
      throw new RotatorError(
        'CONFLICT',
        `${path} changed during rotation: expected version ${expectedCurrent ?? '(none)'}, found ${found ?? '(none)'}`,
      );
    }
    const after = latest?.number ?? 0;
    const intent = {
      [ANN.promoting]: rotationId,
      [ANN.promotingAfter]: String(after),
      [ANN.previousVersion]: expectedCurrent ?? NONE,
    };
    if (!secret) await this.create(id, intent, `publish ${path}`);
    else await this.annotate(id, () => intent, `publish ${path}`);

    const version = await this.add(id, pending.value, `publish ${path}`);
    if (version !== after + 1) {
      const theirs = version - 1;
      const value = await this.access(id, theirs);
      const restored =
        value === null
          ? null
          : await this.add(id, parseSecretJson(value, `version ${theirs} of ${path}`), `put back version ${theirs} of ${path}`);
      await this.annotate(id, () => ({}), `clear the publish record of ${path}`);
      await this.disable(id, version, `disable version ${version} of ${path}`);
      throw new RotatorError(
        'CONFLICT',
        `${path} changed during rotation: another writer added version ${after + 1}${theirs > after + 1 ? `–${theirs}` : ''} between rotator's check and its write; rotator's version ${version} is disabled${restored ? ` and version ${theirs} is current again as version ${restored}` : ''}`,
      );
    }
    await this.record(id, rotationId, version, expectedCurrent);
    return { version: String(version), previousVersion: expectedCurrent };
  }

  /**
   * `latest` cannot be moved back, so the old value is added again as a new version. A first publish (no version
   * before it) is undone by disabling it: `latest` then serves nothing, which this store reads as no value.
   */
  async rollback(path: string, rotationId: string, versions: { toVersion: string | null; fromVersion: string }): Promise<void> {
    const id = secretIdOf(path);
    const secret = await this.getSecret(id);
    if (!secret) {
      if (versions.toVersion === null) return;
      throw new RotatorError('NOT_FOUND', `${path} no longer exists; cannot roll back to version ${versions.toVersion}`);
    }
    const a = secret.annotations ?? {};
    if (a[ANN.rolledBackBy] === rotationId) return;
    const finish = () => this.annotate(id, () => ({ [ANN.rolledBackBy]: rotationId }), `record the rollback of ${path}`);
    const latest = await this.latest(id);
    const previous = versions.toVersion === null ? null : await this.readVersion(path, versions.toVersion);
    if (String(latest?.number) !== versions.fromVersion) {
      // A rollback of ours whose record a worker death cut short: the latest version is the value it restored.
      if (
        a[ANN.rollingBack] === rotationId &&
        latest &&
        previous &&
        (await this.access(id, latest.number)) === JSON.stringify(previous)
      )
        return finish();
      throw movedSincePublish(path, latest?.enabled ? latest.number : null);
    }
    if (versions.toVersion === null) {
      await this.disable(id, latest!.number, `roll back ${path}`);
      return finish();
    }
    if (!previous) throw versionGone(path, versions.toVersion);
    await this.annotate(id, (ours) => ({ ...ours, [ANN.rollingBack]: rotationId }), `roll back ${path}`);
    await this.add(id, previous, `roll back ${path}`);
    await finish();
  }

  async close(): Promise<void> {
    await this.client.close();
  }
}
