// Vault / OpenBao KV v2 store: versions are history, custom metadata records the rotation, writes use check-and-set.
import type vault from 'node-vault';
import { unanswered, vaultClient, type VaultConnection } from './client';
import { REQUEST_TIMEOUT_MS } from '../../timeouts';
import { stillWanted } from '../../../src/kernel/attempt';
import { RotatorError } from '../../../src/kernel/errors';
import { claimPendingSlot, type StalePendingOptions } from '../stale-pending';
import { movedSincePublish, versionGone } from '../store-errors';
import type { Pending, PromoteResult, SecretStore, SecretValue, Versioned, WriteGate } from '../../types';
import { CAPABILITIES, parseKvPath, type KvPath } from './index';

/** `token`: a token given to rotator, or the provider's login session (auth.ts), released when the store closes. */
export interface VaultKvOptions extends StalePendingOptions, VaultConnection {
  /** Pending credentials live under `<mount>/data/<pendingPrefix>/<path>` so readers of the secret never see one. */
  pendingPrefix: string;
  /** How long one request may take (default REQUEST_TIMEOUT_MS, a third of the step's timeout). */
  requestTimeoutMs?: number;
}

const ROTATION_FIELD = 'rotator_rotation_id';
const BASE_FIELD = 'rotator_base_version';
const NONE = 'none';
/** Left by earlier rollbacks; a new publish makes them untrue, so it removes them. */
const ROLLBACK_FIELDS = ['rotator_rolled_back_from', 'rotator_restored_version'];

interface VaultHttpError {
  response?: { statusCode?: number };
  message?: string;
}

function statusOf(err: unknown): number | undefined {
  return (err as VaultHttpError)?.response?.statusCode;
}

/** Vault's own messages name paths, never values; still, only the status and first line leave this module. */
function vaultError(err: unknown, action: string, server?: { address: string; timeoutMs: number }): RotatorError {
  if (err instanceof RotatorError) return err; // a new login the refused token called for failed: it says why
  const silent = server ? unanswered(err, server.address, server.timeoutMs) : null;
  if (silent) return new RotatorError('TRANSIENT', `${silent} (${action})`);
  const status = statusOf(err);
  // Vault wraps its errors in "1 error occurred:\n\t* …": keep the substance on one line.
  const text = ((err as VaultHttpError)?.message ?? String(err))
    .replace(/\d+ errors? occurred:/, '')
    .replace(/\s*\n\s*\*?\s*/g, ' ')
    .trim();
  if (status === 403) return new RotatorError('PERMISSION_DENIED', `vault refused to ${action}: ${text}`);
  if (status === 400 && /check-and-set/i.test(text)) {
    return new RotatorError('CONFLICT', `the secret changed while rotating (check-and-set failed on ${action})`);
  }
  return new RotatorError('TRANSIENT', `vault ${action} failed: ${text}`);
}

interface KvReadBody {
  data?: { data?: SecretValue | null; metadata?: { version?: number; deletion_time?: string; destroyed?: boolean } };
}
interface KvMetadataBody {
  data?: {
    current_version?: number;
    custom_metadata?: Record<string, string> | null;
    versions?: Record<string, { created_time?: string; deletion_time?: string; destroyed?: boolean }>;
  };
}

export class VaultKvStore implements SecretStore {
  readonly capabilities = CAPABILITIES;
  private readonly client: vault.client;
  private closed = false;

  private readonly server: { address: string; timeoutMs: number };
  /** Called before each write request (a mass rotation's write budget); set on a gated copy only. */
  private gate: WriteGate | undefined;

  constructor(private readonly options: VaultKvOptions) {
    this.server = { address: options.address, timeoutMs: options.requestTimeoutMs ?? REQUEST_TIMEOUT_MS };
    this.client = vaultClient(options, this.server.timeoutMs);
  }

  private paths(path: string): KvPath {
    return parseKvPath(path, this.options.pendingPrefix);
  }

  private async get<T>(apiPath: string, action: string): Promise<T | null> {
    try {
      return (await this.client.read(apiPath)) as T;
    } catch (err) {
      if (statusOf(err) === 404) return null;
      throw vaultError(err, action, this.server);
    }
  }

  withWriteGate(gate: WriteGate): SecretStore {
    // The same client and login, with the gate: an object over this one, so nothing is opened or closed twice.
    const gated = Object.create(this) as VaultKvStore;
    gated.gate = gate;
    return gated;
  }

  private async post(apiPath: string, body: unknown, action: string): Promise<unknown> {
    stillWanted(action);
    const release = await this.gate?.();
    try {
      stillWanted(action);
      try {
        return await this.client.write(apiPath, body);
      } catch (err) {
        throw vaultError(err, action, this.server);
      }
    } finally {
      release?.();
    }
  }

  private async remove(apiPath: string, action: string): Promise<void> {
    stillWanted(action);
    const release = await this.gate?.();
    try {
      stillWanted(action);
      try {
        await this.client.delete(apiPath);
      } catch (err) {
        if (statusOf(err) !== 404) throw vaultError(err, action, this.server);
      }
    } finally {
      release?.();
    }
  }

  private async readAt(apiPath: string, action: string): Promise<Versioned<SecretValue> | null> {
    const body = await this.get<KvReadBody>(apiPath, action);
    const meta = body?.data?.metadata;
    // A soft-deleted or destroyed latest version reads as 404 or as null data: both mean "no current value".
    if (!body?.data?.data || !meta?.version || meta.deletion_time || meta.destroyed) return null;
    return { version: String(meta.version), value: body.data.data };
  }

  async readCurrent(path: string): Promise<Versioned<SecretValue> | null> {
    return this.readAt(this.paths(path).data, `read ${path}`);
  }

  async readVersion(path: string, version: string): Promise<SecretValue | null> {
    const found = await this.readAt(`${this.paths(path).data}?version=${encodeURIComponent(version)}`, `read ${path}`);
    return found?.value ?? null;
  }

  private async metadata(path: string): Promise<{ currentVersion: string | null; custom: Record<string, string> }> {
    const body = await this.get<KvMetadataBody>(this.paths(path).metadata, `read metadata of ${path}`);
    const current = body?.data?.current_version;
    return { currentVersion: current ? String(current) : null, custom: body?.data?.custom_metadata ?? {} };
  }

  /** Vault replaces the whole map on write: keep the operator's own keys (owner, team, …) beside ours. */
  private async setCustomMetadata(path: string, existing: Record<string, string>, ours: Record<string, string>): Promise<void> {
    await this.post(this.paths(path).metadata, { custom_metadata: { ...existing, ...ours } }, `write metadata of ${path}`);
  }

  async stagePending(path: string, rotationId: string, value: SecretValue, baseVersion: string | null): Promise<void> {
    const { pendingData, pendingMetadata } = this.paths(path);
    const existing = await this.readAt(pendingData, `read pending of ${path}`);
    const owner = existing?.value[ROTATION_FIELD];
    const write = async (cas: number) => {
      const data = { ...value, [ROTATION_FIELD]: rotationId, [BASE_FIELD]: baseVersion ?? NONE };
      await this.post(pendingData, { data, options: { cas } }, `stage pending of ${path}`);
    };
    await claimPendingSlot(this.options, {
      path,
      rotationId,
      holder: existing ? (typeof owner === 'string' ? owner : '(unknown)') : null,
      where: `version ${existing?.version} of ${pendingData}`,
      fields: { pendingPath: pendingData },
      howToRemove: `delete ${pendingMetadata}`,
      create: () => write(0), // cas 0: only while the key does not exist
      overwrite: () => write(Number(existing?.version)),
      ours: async () => (await this.readPending(path, rotationId)) !== null,
      other: () => this.otherPending(path, rotationId),
    });
  }

  async readPending(path: string, rotationId: string): Promise<Pending | null> {
    const found = await this.readAt(this.paths(path).pendingData, `read pending of ${path}`);
    if (!found || found.value[ROTATION_FIELD] !== rotationId) return null;
    const { [ROTATION_FIELD]: _id, [BASE_FIELD]: base, ...value } = found.value;
    return { value, baseVersion: typeof base === 'string' && base !== NONE ? base : null };
  }

  async otherPending(path: string, rotationId: string): Promise<string | null> {
    const found = await this.readAt(this.paths(path).pendingData, `read pending of ${path}`);
    const owner = found?.value[ROTATION_FIELD];
    if (!found || owner === rotationId) return null;
    return typeof owner === 'string' ? owner : '(unknown)';
  }

  async discardPending(path: string, rotationId: string): Promise<void> {
    const found = await this.readAt(this.paths(path).pendingData, `read pending of ${path}`);
    if (found && found.value[ROTATION_FIELD] !== rotationId) return; // someone else's: not ours to remove
    await this.remove(this.paths(path).pendingMetadata, `discard pending of ${path}`);
  }

  /**
   * Metadata says which rotation last published and what it replaced. `promoting` is written before the data, so a
   * worker that dies between the two leaves a record the re-run can finish from: the write happened exactly when
   * current holds this rotation's pending password.
   */
  async publishedBy(path: string, rotationId: string): Promise<PromoteResult | null> {
    return this.publishedIn(path, rotationId, await this.metadata(path));
  }

  private async publishedIn(
    path: string,
    rotationId: string,
    { currentVersion, custom }: { currentVersion: string | null; custom: Record<string, string> },
  ): Promise<PromoteResult | null> {
    if (custom[ROTATION_FIELD] !== rotationId || !currentVersion) return null;
    const previousVersion = custom.rotator_previous_version === NONE ? null : (custom.rotator_previous_version ?? null);
    if (custom.rotator_phase === 'promoted') return { version: custom.rotator_version ?? currentVersion, previousVersion };
    if (custom.rotator_phase !== 'promoting' || currentVersion === previousVersion) return null;
    const [pending, current] = await Promise.all([this.readPending(path, rotationId), this.readCurrent(path)]);
    if (!pending || !current || current.value.password !== pending.value.password) return null;
    return { version: current.version, previousVersion };
  }

  async promote(path: string, rotationId: string, expectedCurrent: string | null): Promise<PromoteResult> {
    const meta = await this.metadata(path);
    const ours = (result: PromoteResult) => ({
      ...withoutRollbackFields(meta.custom),
      [ROTATION_FIELD]: rotationId,
      rotator_previous_version: result.previousVersion ?? NONE,
    });
    const published = await this.publishedIn(path, rotationId, meta);
    if (published) {
      if (meta.custom.rotator_phase !== 'promoted') {
        await this.setCustomMetadata(path, ours(published), { rotator_phase: 'promoted', rotator_version: published.version });
      }
      return published;
    }
    const pending = await this.readPending(path, rotationId);
    if (!pending) throw new RotatorError('NOT_FOUND', `no pending credential of this rotation at ${path}`);
    if (meta.currentVersion !== expectedCurrent) {
      throw new RotatorError(
        'CONFLICT',
        `${path} changed during rotation: expected version ${expectedCurrent ?? '(none)'}, found ${meta.currentVersion ?? '(none)'}`,
      );
    }
    const intent = ours({ version: '', previousVersion: expectedCurrent });
    await this.setCustomMetadata(path, intent, { rotator_phase: 'promoting' });
    let body: { data?: { version?: number } };
    try {
      body = (await this.post(
        this.paths(path).data,
        { data: pending.value, options: { cas: expectedCurrent ? Number(expectedCurrent) : 0 } },
        `publish ${path}`,
      )) as { data?: { version?: number } };
    } catch (err) {
      // Check-and-set failed: an earlier attempt of this same promote, given up on our side (its request timed out),
      // may have reached Vault after all. That write is ours, not a concurrent writer's: finish from it.
      const landed = err instanceof RotatorError && err.code === 'CONFLICT' ? await this.publishedBy(path, rotationId) : null;
      if (!landed) throw err;
      await this.setCustomMetadata(path, intent, { rotator_phase: 'promoted', rotator_version: landed.version });
      return landed;
    }
    const result = { version: String(body?.data?.version), previousVersion: expectedCurrent };
    await this.setCustomMetadata(path, intent, { rotator_phase: 'promoted', rotator_version: result.version });
    return result;
  }

  async publishedAt(path: string): Promise<number | null> {
    const body = await this.get<KvMetadataBody>(this.paths(path).metadata, `read metadata of ${path}`);
    const current = body?.data?.current_version;
    const version = current ? body?.data?.versions?.[String(current)] : undefined;
    if (!version?.created_time || version.deletion_time || version.destroyed) return null;
    return Date.parse(version.created_time);
  }

  async rollback(path: string, rotationId: string, versions: { toVersion: string | null; fromVersion: string }): Promise<void> {
    const { currentVersion, custom } = await this.metadata(path);
    if (custom[ROTATION_FIELD] === rotationId && custom.rotator_phase === 'rolled-back') return;
    if (versions.toVersion === null) {
      // The secret did not exist before this rotation: going back means it does not exist again.
      if (currentVersion === versions.fromVersion) await this.remove(this.paths(path).metadata, `roll back ${path}`);
      return;
    }
    const previous = await this.readVersion(path, versions.toVersion);
    if (!previous) throw versionGone(path, versions.toVersion);
    if (currentVersion !== versions.fromVersion) {
      const current = await this.readCurrent(path);
      const alreadyRestored = current !== null && current.value.password === previous.password;
      if (!alreadyRestored) {
        throw movedSincePublish(path, currentVersion);
      }
    } else {
      await this.post(
        this.paths(path).data,
        { data: previous, options: { cas: Number(versions.fromVersion) } },
        `roll back ${path}`,
      );
    }
    await this.setCustomMetadata(path, custom, {
      [ROTATION_FIELD]: rotationId,
      rotator_phase: 'rolled-back',
      rotator_rolled_back_from: versions.fromVersion,
      rotator_restored_version: versions.toVersion,
    });
  }

  async close(): Promise<void> {
    // node-vault holds no connections of its own beyond axios' keep-alive agent; a login is shared and released.
    if (typeof this.options.token !== 'string' && !this.closed) this.options.token.release();
    this.closed = true;
  }
}

function withoutRollbackFields(custom: Record<string, string>): Record<string, string> {
  return Object.fromEntries(Object.entries(custom).filter(([k]) => !ROLLBACK_FIELDS.includes(k)));
}
