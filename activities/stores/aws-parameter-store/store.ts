// AWS SSM Parameter Store: SecureString JSON; versions are parameter versions, labels `current`/`previous` mark them.
import { createHash } from 'node:crypto';
import {
  DeleteParameterCommand,
  GetParameterCommand,
  GetParameterHistoryCommand,
  LabelParameterVersionCommand,
  PutParameterCommand,
  SSMClient,
  UnlabelParameterVersionCommand,
} from '@aws-sdk/client-ssm';
import { RotatorError } from '../../../src/kernel/errors';
import {
  awsStepClientConfig,
  writeGatedClient,
  awsError,
  awsErrorName,
  parseSecretJson,
  secretsOf,
  type AwsConnectionOptions,
  liveAttemptsOnly,
} from '../aws-common';
import { claimPendingSlot, type StalePendingOptions } from '../stale-pending';
import { movedSincePublish, versionGone } from '../store-errors';
import type { Pending, PromoteResult, SecretStore, SecretValue, Versioned, WriteGate } from '../../types';
import { CAPABILITIES } from './index';

export interface AwsParameterStoreOptions extends AwsConnectionOptions, StalePendingOptions {
  /** KMS key for SecureString values; unset means the account's alias/aws/ssm. */
  kmsKeyId?: string;
}

const CURRENT = 'current';
const PREVIOUS = 'previous';
const ROTATION_FIELD = 'rotator_rotation_id';
const BASE_FIELD = 'rotator_base_version';
const NONE = 'none';
/**
 * Pending values live in their own tree rather than beside the secret, so neither GetParameter on the secret nor
 * GetParametersByPath on its folder ever returns one; the rotator's IAM policy needs this prefix too.
 */
export const PENDING_ROOT = '/rotator-pending';

const ABSENT = new Set(['ParameterNotFound', 'ParameterVersionNotFound', 'ParameterVersionLabelNotFound']);

export function pendingParameterName(path: string): string {
  return `${PENDING_ROOT}${path.startsWith('/') ? '' : '/'}${path}`;
}

/** Labels allow letters, digits, `_.-`, at most 100 characters: a UUID run id fits verbatim, anything else is hashed. */
function labelFor(kind: 'rotation' | 'rollback', rotationId: string): string {
  const id = /^[A-Za-z0-9_.-]{1,80}$/.test(rotationId)
    ? rotationId
    : createHash('sha256').update(rotationId).digest('hex').slice(0, 40);
  return `${kind}-${id}`;
}

interface HistoryEntry {
  version: number;
  labels: string[];
}

/** The version readers of this store call current: the one labelled so, or the latest while nothing is labelled yet. */
function currentOf(history: HistoryEntry[]): number | null {
  const labelled = history.find((h) => h.labels.includes(CURRENT));
  if (labelled) return labelled.version;
  return history.length > 0 ? Math.max(...history.map((h) => h.version)) : null;
}

function latestOf(history: HistoryEntry[]): number | null {
  return history.length > 0 ? Math.max(...history.map((h) => h.version)) : null;
}

export class AwsParameterStore implements SecretStore {
  /** Declared by the plugin (./index). */
  readonly capabilities = CAPABILITIES;
  private readonly client: SSMClient;

  constructor(private readonly options: AwsParameterStoreOptions) {
    this.client = liveAttemptsOnly(new SSMClient(awsStepClientConfig(options)), 'AWS Parameter Store');
  }

  /** The same store and client, every write request it sends taking a token from `gate` first (a write budget). */
  withWriteGate(gate: WriteGate): SecretStore {
    const gated = Object.create(this) as this;
    Object.defineProperty(gated, 'client', { value: writeGatedClient(this.client, gate) });
    return gated;
  }

  private async get(
    name: string,
    action: string,
  ): Promise<{ version: number; text: string | undefined; modifiedAt: Date | undefined } | null> {
    try {
      const out = await this.client.send(new GetParameterCommand({ Name: name, WithDecryption: true }));
      return out.Parameter?.Version
        ? { version: out.Parameter.Version, text: out.Parameter.Value, modifiedAt: out.Parameter.LastModifiedDate }
        : null;
    } catch (err) {
      if (ABSENT.has(awsErrorName(err))) return null;
      throw awsError(err, action);
    }
  }

  /** Versions and labels only: values are left out (WithDecryption false) because nothing here needs them. */
  private async history(path: string): Promise<HistoryEntry[] | null> {
    const entries: HistoryEntry[] = [];
    let next: string | undefined;
    try {
      do {
        const out = await this.client.send(
          new GetParameterHistoryCommand({ Name: path, WithDecryption: false, MaxResults: 50, NextToken: next }),
        );
        for (const p of out.Parameters ?? []) if (p.Version) entries.push({ version: p.Version, labels: p.Labels ?? [] });
        next = out.NextToken || undefined;
      } while (next);
    } catch (err) {
      if (awsErrorName(err) === 'ParameterNotFound') return null;
      throw awsError(err, `read the history of ${path}`);
    }
    return entries;
  }

  private async put(name: string, value: SecretValue, overwrite: boolean, action: string): Promise<number> {
    try {
      const out = await this.client.send(
        new PutParameterCommand({
          Name: name,
          Value: JSON.stringify(value),
          Type: 'SecureString',
          Overwrite: overwrite,
          ...(this.options.kmsKeyId ? { KeyId: this.options.kmsKeyId } : {}),
        }),
      );
      if (!out.Version) throw new RotatorError('TRANSIENT', `${action}: SSM returned no version`);
      return out.Version;
    } catch (err) {
      throw awsError(err, action, secretsOf(value));
    }
  }

  private async label(path: string, version: number, labels: string[]): Promise<void> {
    let out;
    try {
      out = await this.client.send(new LabelParameterVersionCommand({ Name: path, ParameterVersion: version, Labels: labels }));
    } catch (err) {
      throw awsError(err, `label version ${version} of ${path}`);
    }
    // SSM answers 200 and lists the labels it refused instead of failing the call.
    if (out.InvalidLabels && out.InvalidLabels.length > 0) {
      throw new RotatorError('CONFIG_INVALID', `SSM refused the labels ${out.InvalidLabels.join(', ')} on ${path}`);
    }
  }

  /**
   * Takes earlier rotations' marks off their versions: SSM keeps at most 100 versions and cannot drop a labelled
   * one, so marks left on every version would end all writes after the hundredth rotation. Only `current`,
   * `previous` and this rotation's own mark stay.
   */
  private async pruneMarks(path: string, history: HistoryEntry[], ours: string): Promise<void> {
    for (const { version, labels } of history) {
      const stale = labels.filter((l) => (l.startsWith('rotation-') || l.startsWith('rollback-')) && l !== ours);
      if (stale.length === 0) continue;
      try {
        await this.client.send(new UnlabelParameterVersionCommand({ Name: path, ParameterVersion: version, Labels: stale }));
      } catch (err) {
        throw awsError(err, `remove old rotation labels from version ${version} of ${path}`);
      }
    }
  }

  private async remove(name: string, action: string): Promise<void> {
    try {
      await this.client.send(new DeleteParameterCommand({ Name: name }));
    } catch (err) {
      if (awsErrorName(err) !== 'ParameterNotFound') throw awsError(err, action);
    }
  }

  async readCurrent(path: string): Promise<Versioned<SecretValue> | null> {
    const found = (await this.get(`${path}:${CURRENT}`, `read ${path}`)) ?? (await this.get(path, `read ${path}`));
    if (!found) return null;
    return { version: String(found.version), value: parseSecretJson(found.text, `version ${found.version} of ${path}`) };
  }

  /** When the version labelled current was written. */
  async publishedAt(path: string): Promise<number | null> {
    const found = (await this.get(`${path}:${CURRENT}`, `read ${path}`)) ?? (await this.get(path, `read ${path}`));
    return found?.modifiedAt?.getTime() ?? null;
  }

  async readVersion(path: string, version: string): Promise<SecretValue | null> {
    if (!/^\d+$/.test(version)) return null; // not a parameter version
    const found = await this.get(`${path}:${version}`, `read version ${version} of ${path}`);
    return found ? parseSecretJson(found.text, `version ${version} of ${path}`) : null;
  }

  private async pending(path: string): Promise<SecretValue | null> {
    const name = pendingParameterName(path);
    const found = await this.get(name, `read pending of ${path}`);
    return found ? parseSecretJson(found.text, `the pending parameter ${name}`) : null;
  }

  async stagePending(path: string, rotationId: string, value: SecretValue, baseVersion: string | null): Promise<void> {
    const name = pendingParameterName(path);
    const existing = await this.pending(path);
    const owner = existing?.[ROTATION_FIELD];
    const record = { ...value, [ROTATION_FIELD]: rotationId, [BASE_FIELD]: baseVersion ?? NONE };
    await claimPendingSlot(this.options, {
      path,
      rotationId,
      holder: existing ? (typeof owner === 'string' ? owner : '(unknown)') : null,
      where: name,
      fields: { pendingParameter: name },
      howToRemove: `delete the parameter ${name}`,
      create: async () => {
        await this.put(name, record, false, `stage pending of ${path}`); // Overwrite false: only while absent
      },
      overwrite: async () => {
        await this.put(name, record, true, `stage pending of ${path}`);
      },
      ours: async () => (await this.readPending(path, rotationId)) !== null,
      other: () => this.otherPending(path, rotationId),
    });
  }

  async readPending(path: string, rotationId: string): Promise<Pending | null> {
    const found = await this.pending(path);
    if (!found || found[ROTATION_FIELD] !== rotationId) return null;
    const { [ROTATION_FIELD]: _id, [BASE_FIELD]: base, ...value } = found;
    return { value, baseVersion: typeof base === 'string' && base !== NONE ? base : null };
  }

  async otherPending(path: string, rotationId: string): Promise<string | null> {
    const found = await this.pending(path);
    const owner = found?.[ROTATION_FIELD];
    if (!found || owner === rotationId) return null;
    return typeof owner === 'string' ? owner : '(unknown)';
  }

  async discardPending(path: string, rotationId: string): Promise<void> {
    const found = await this.pending(path);
    if (!found || found[ROTATION_FIELD] !== rotationId) return; // someone else's: not ours to remove
    await this.remove(pendingParameterName(path), `discard pending of ${path}`);
  }

  /** The latest version, when it already holds `value`'s password: a write of ours whose labelling a crash cut short. */
  private async unlabelledWriteOf(path: string, history: HistoryEntry[], value: SecretValue): Promise<number | null> {
    const latest = latestOf(history);
    const entry = history.find((h) => h.version === latest);
    if (
      latest === null ||
      !entry ||
      entry.labels.includes(CURRENT) ||
      entry.labels.some((l) => l.startsWith('rotation-') || l.startsWith('rollback-'))
    )
      return null;
    const found = await this.get(`${path}:${latest}`, `read version ${latest} of ${path}`);
    if (!found) return null;
    return parseSecretJson(found.text, `version ${latest} of ${path}`).password === value.password ? latest : null;
  }

  /**
   * Marked with this rotation's label, or written and not yet labelled (a worker died in between): plain readers
   * already get the latest version, so that write counts as published. `previous` is labelled before `current`
   * moves, so a marked version always has its previous labelled; before that, `current` still names it.
   */
  async publishedBy(path: string, rotationId: string): Promise<PromoteResult | null> {
    const history = (await this.history(path)) ?? [];
    if (history.some((h) => h.labels.includes(labelFor('rollback', rotationId)))) return null;
    const done = history.find((h) => h.labels.includes(labelFor('rotation', rotationId)));
    if (done) {
      const previous = history.find((h) => h.labels.includes(PREVIOUS) && h.version !== done.version);
      return { version: String(done.version), previousVersion: previous ? String(previous.version) : null };
    }
    const pending = await this.readPending(path, rotationId);
    const written = pending ? await this.unlabelledWriteOf(path, history, pending.value) : null;
    if (written === null) return null;
    const labelled = history.find((h) => h.labels.includes(CURRENT));
    return { version: String(written), previousVersion: labelled ? String(labelled.version) : null };
  }

  async promote(path: string, rotationId: string, expectedCurrent: string | null): Promise<PromoteResult> {
    const mark = labelFor('rotation', rotationId);
    const history = (await this.history(path)) ?? [];
    const done = history.find((h) => h.labels.includes(mark));
    if (done) return (await this.publishedBy(path, rotationId))!;
    const pending = await this.readPending(path, rotationId);
    if (!pending) throw new RotatorError('NOT_FOUND', `no pending credential of this rotation at ${path}`);
    let version = await this.unlabelledWriteOf(path, history, pending.value);
    if (version === null) {
      const current = currentOf(history);
      const latest = latestOf(history);
      if ((current === null ? null : String(current)) !== expectedCurrent) {
        throw new RotatorError(
          'CONFLICT',
          `${path} changed during rotation: expected version ${expectedCurrent ?? '(none)'}, found ${current ?? '(none)'}`,
        );
      }
      // Readers of the parameter get the latest version, not the labelled one: a newer unlabelled write is what
      // they see, and overwriting it would lose it.
      if (latest !== current) {
        throw new RotatorError(
          'CONFLICT',
          `${path} has version ${latest}, newer than version ${current} labelled ${CURRENT}, written outside rotator; label the right one ${CURRENT} first`,
        );
      }
      // Label what we replace first: while our write is still unlabelled, `current` must keep naming the old one.
      if (current !== null && !history.some((h) => h.labels.includes(CURRENT))) await this.label(path, current, [CURRENT]);
      // Overwrite only what we saw: a first write fails with ParameterAlreadyExists if someone created it meanwhile.
      version = await this.put(path, pending.value, history.length > 0, `publish ${path}`);
    }
    if (expectedCurrent !== null && Number(expectedCurrent) !== version) {
      await this.label(path, Number(expectedCurrent), [PREVIOUS]);
    }
    await this.label(path, version, [CURRENT, mark]);
    await this.pruneMarks(path, history, mark);
    return { version: String(version), previousVersion: expectedCurrent };
  }

  async rollback(path: string, rotationId: string, versions: { toVersion: string | null; fromVersion: string }): Promise<void> {
    const mark = labelFor('rollback', rotationId);
    const history = await this.history(path);
    if (history === null) {
      if (versions.toVersion === null) return; // deleted already: there was nothing before this rotation either
      throw new RotatorError('NOT_FOUND', `${path} no longer exists; cannot roll back to version ${versions.toVersion}`);
    }
    const current = currentOf(history);
    if (versions.toVersion === null) {
      // The parameter did not exist before this rotation: going back means it does not exist again.
      if (String(current) !== versions.fromVersion) {
        throw movedSincePublish(path, current, 'deleting it');
      }
      await this.remove(path, `roll back ${path}`);
      return;
    }
    if (!history.some((h) => h.labels.includes(mark))) {
      const previous = await this.readVersion(path, versions.toVersion);
      if (!previous) throw versionGone(path, versions.toVersion);
      let restored = await this.unlabelledWriteOf(path, history, previous);
      if (restored === null) {
        if (String(current) !== versions.fromVersion || latestOf(history) !== current) {
          throw movedSincePublish(path, latestOf(history));
        }
        // Readers get the latest version, so moving the label back is not enough: the old value is written again.
        restored = await this.put(path, previous, true, `roll back ${path}`);
      }
      await this.label(path, restored, [CURRENT, mark]);
      await this.label(path, Number(versions.fromVersion), [PREVIOUS]);
    }
  }

  async close(): Promise<void> {
    this.client.destroy();
  }
}
