// AWS Secrets Manager store: versions carry staging labels; AWSPENDING holds the next value, AWSCURRENT moves on promote.
import { createHash } from 'node:crypto';
import {
  CreateSecretCommand,
  DescribeSecretCommand,
  GetSecretValueCommand,
  PutSecretValueCommand,
  SecretsManagerClient,
  TagResourceCommand,
  UntagResourceCommand,
  UpdateSecretVersionStageCommand,
  type GetSecretValueCommandOutput,
} from '@aws-sdk/client-secrets-manager';
import { RotatorError, type ErrorCode } from '../../../src/kernel/errors';
import { logger } from '../../../src/kernel/log';
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
import { handleStalePending, type StalePendingOptions } from '../stale-pending';
import { movedSincePublish, versionGone } from '../store-errors';
import type { Pending, PromoteResult, SecretStore, SecretValue, Versioned, WriteGate } from '../../types';
import { CAPABILITIES } from './index';

export type { StalePendingPolicy } from '../stale-pending';

/** `stalePending` decides about an AWSPENDING version that is not ours (an earlier failed rotation, or another tool's). */
export interface AwsSecretsManagerOptions extends AwsConnectionOptions, StalePendingOptions {
  /**
   * Tag the secret after each promote and rollback with when its AWSCURRENT version was written and by which rotation
   * (ROTATION_TAGS), so AWS's own view of a secret shows that it is rotated. Off by default (needs TagResource).
   */
  rotationTags?: boolean;
}

/**
 * The tags rotator keeps on a secret when `rotation_tags` is on. Secrets Manager's own `RotationEnabled` and
 * `LastRotatedDate` only describe its Lambda rotation (RotateSecret), which an outside rotator cannot honestly drive
 * (see docs/stores.md): these say the same for rotator's rotations, where AWS Config and Security Hub rules can read them.
 */
export const ROTATION_TAGS = {
  /** ISO 8601: when the version now AWSCURRENT was written (for a rotation, when it staged the new value). */
  lastRotated: 'rotator:last-rotated',
  /** The rotation that published the version now AWSCURRENT; absent when rotator did not publish it. */
  rotatedBy: 'rotator:rotated-by',
  /** `true` while rotator manages the secret's rotation. */
  managed: 'rotator:rotation-enabled',
} as const;

const CURRENT = 'AWSCURRENT';
const PENDING = 'AWSPENDING';
const PREVIOUS = 'AWSPREVIOUS';

/**
 * A version id (ClientRequestToken) is 32–64 characters. A Temporal run id (a UUID) already is one, and keeping it
 * verbatim lets an operator match an AWS version to its rotation; anything else is hashed into a UUID-shaped token.
 * Either way a retried PutSecretValue names the same version, so it cannot add a second one.
 */
export function versionTokenFor(rotationId: string): string {
  if (/^[A-Za-z0-9-]{32,64}$/.test(rotationId)) return rotationId;
  const h = createHash('sha256').update(rotationId).digest('hex');
  return `${h.slice(0, 8)}-${h.slice(8, 12)}-${h.slice(12, 16)}-${h.slice(16, 20)}-${h.slice(20, 32)}`;
}

/**
 * Secrets Manager attaches AWSCURRENT to the first version of a secret whatever labels the request asks for, so a
 * pending value put into a new secret would be served at once. A new secret therefore starts with an empty `{}`
 * placeholder as AWSCURRENT, recognisable by its version id, which this store reads as "no current value".
 */
const PLACEHOLDER_PREFIX = 'rotator-placeholder-';

export function placeholderTokenFor(rotationId: string): string {
  return PLACEHOLDER_PREFIX + createHash('sha256').update(rotationId).digest('hex').slice(0, 40);
}

function isPlaceholder(versionId: string | null | undefined): boolean {
  return !!versionId && versionId.startsWith(PLACEHOLDER_PREFIX);
}

type Stages = Record<string, string[]>;

function versionWith(stages: Stages, label: string): string | null {
  for (const [id, labels] of Object.entries(stages)) if (labels.includes(label)) return id;
  return null;
}

/** A version holding `label`, read as absent when it is the placeholder. */
function realVersionWith(stages: Stages, label: string): string | null {
  const id = versionWith(stages, label);
  return isPlaceholder(id) ? null : id;
}

export class AwsSecretsManagerStore implements SecretStore {
  /** Declared by the plugin (./index). */
  readonly capabilities = CAPABILITIES;
  private readonly client: SecretsManagerClient;

  constructor(private readonly options: AwsSecretsManagerOptions) {
    this.client = liveAttemptsOnly(new SecretsManagerClient(awsStepClientConfig(options)), 'AWS Secrets Manager');
  }

  /** The same store and client, every write request it sends taking a token from `gate` first (a write budget). */
  withWriteGate(gate: WriteGate): SecretStore {
    const gated = Object.create(this) as this;
    Object.defineProperty(gated, 'client', { value: writeGatedClient(this.client, gate) });
    return gated;
  }

  private async call<T>(
    action: string,
    run: () => Promise<T>,
    secrets: ReadonlyArray<string | undefined> = [],
    override?: Partial<Record<string, ErrorCode>>,
  ): Promise<T> {
    try {
      return await run();
    } catch (err) {
      throw awsError(err, action, secrets, override);
    }
  }

  /** Version id → staging labels, for versions that still carry a label; null when the secret does not exist. */
  private async stages(path: string): Promise<Stages | null> {
    try {
      const out = await this.client.send(new DescribeSecretCommand({ SecretId: path }));
      if (out.DeletedDate) {
        throw new RotatorError(
          'CONFLICT',
          `${path} is scheduled for deletion in Secrets Manager; restore it or choose another name`,
        );
      }
      return out.VersionIdsToStages ?? {};
    } catch (err) {
      if (awsErrorName(err) === 'ResourceNotFoundException') return null;
      throw awsError(err, `describe ${path}`);
    }
  }

  private async getValue(
    path: string,
    selector: { VersionStage: string } | { VersionId: string },
    action: string,
  ): Promise<GetSecretValueCommandOutput | null> {
    try {
      return await this.client.send(new GetSecretValueCommand({ SecretId: path, ...selector }));
    } catch (err) {
      // The same exception means "no such secret" and "no version with that label/id": both read as absent.
      if (awsErrorName(err) === 'ResourceNotFoundException') return null;
      throw awsError(err, action);
    }
  }

  private async moveLabel(path: string, label: string, move: { to?: string; from?: string }, action: string): Promise<void> {
    await this.call(
      action,
      () =>
        this.client.send(
          new UpdateSecretVersionStageCommand({
            SecretId: path,
            VersionStage: label,
            ...(move.to ? { MoveToVersionId: move.to } : {}),
            ...(move.from ? { RemoveFromVersionId: move.from } : {}),
          }),
        ),
      [],
      // The label is no longer where we read it: someone else moved it in between.
      { InvalidParameterException: 'CONFLICT' },
    );
  }

  /** Remove AWSPENDING from `versionId` if it still has it; already gone is success. */
  private async dropPending(path: string, versionId: string): Promise<void> {
    const stages = await this.stages(path);
    if (!stages?.[versionId]?.includes(PENDING)) return;
    try {
      await this.moveLabel(path, PENDING, { from: versionId }, `remove ${PENDING} from version ${versionId} of ${path}`);
    } catch (err) {
      const now = await this.stages(path);
      if (now?.[versionId]?.includes(PENDING)) throw err;
    }
  }

  async readCurrent(path: string): Promise<Versioned<SecretValue> | null> {
    const got = await this.getValue(path, { VersionStage: CURRENT }, `read ${path}`);
    if (!got?.VersionId || isPlaceholder(got.VersionId)) return null;
    return { version: got.VersionId, value: parseSecretJson(got.SecretString, `the ${CURRENT} version of ${path}`) };
  }

  /** When the version now AWSCURRENT was created (staged, moments before it was promoted). */
  async publishedAt(path: string): Promise<number | null> {
    const got = await this.getValue(path, { VersionStage: CURRENT }, `read ${path}`);
    if (!got?.VersionId || isPlaceholder(got.VersionId) || !got.CreatedDate) return null;
    return got.CreatedDate.getTime();
  }

  async readVersion(path: string, version: string): Promise<SecretValue | null> {
    if (version.length < 32 || version.length > 64) return null; // not a Secrets Manager version id
    const got = await this.getValue(path, { VersionId: version }, `read version ${version} of ${path}`);
    return got ? parseSecretJson(got.SecretString, `version ${version} of ${path}`) : null;
  }

  /** Give a new (or value-less) secret its placeholder AWSCURRENT, so what we stage next stays unseen. */
  private async ensureCurrentExists(path: string, rotationId: string, stages: Stages | null): Promise<Stages> {
    const token = placeholderTokenFor(rotationId);
    if (stages === null) {
      try {
        await this.client.send(
          new CreateSecretCommand({
            Name: path,
            SecretString: '{}',
            ClientRequestToken: token,
            Description: 'Managed by rotator. An empty {} is a placeholder until the first rotation publishes.',
          }),
        );
      } catch (err) {
        // Created meanwhile by someone else: fine, it gets the same treatment as one that existed.
        if (awsErrorName(err) !== 'ResourceExistsException') throw awsError(err, `create ${path}`);
      }
      return (await this.stages(path)) ?? {};
    }
    if (versionWith(stages, CURRENT)) return stages;
    await this.call(`create the placeholder version of ${path}`, () =>
      this.client.send(
        new PutSecretValueCommand({ SecretId: path, SecretString: '{}', ClientRequestToken: token, VersionStages: [CURRENT] }),
      ),
    );
    return (await this.stages(path)) ?? {};
  }

  /**
   * `baseVersion` need not be stored: until promote it is AWSCURRENT, after it AWSPREVIOUS (AWS moves that label
   * itself). Secrets Manager moves AWSPENDING to a new version without complaint, so two rotations staging in the
   * same instant cannot be told apart here; the later one wins the label and the earlier one's promote fails.
   */
  async stagePending(path: string, rotationId: string, value: SecretValue, _baseVersion: string | null): Promise<void> {
    const token = versionTokenFor(rotationId);
    const stages = await this.ensureCurrentExists(path, rotationId, await this.stages(path));
    const ours = stages[token];
    // A retry of a stage that already happened, or of one already promoted: keep what is there.
    if (ours?.includes(PENDING) || ours?.includes(CURRENT)) return;
    for (const [id, labels] of Object.entries(stages)) {
      if (id !== token && labels.includes(PENDING)) await this.dealWithStalePending(path, id);
    }
    try {
      await this.client.send(
        new PutSecretValueCommand({
          SecretId: path,
          ClientRequestToken: token,
          SecretString: JSON.stringify(value),
          VersionStages: [PENDING],
        }),
      );
    } catch (err) {
      // Our version exists without labels (this rotation discarded it and now stages again): AWS refuses a second
      // value under the same token, so label the first one pending again, as "keeps an earlier stage" promises.
      if (awsErrorName(err) !== 'ResourceExistsException') throw awsError(err, `stage pending of ${path}`, secretsOf(value));
      await this.moveLabel(path, PENDING, { to: token }, `stage pending of ${path}`);
    }
  }

  private async dealWithStalePending(path: string, staleVersion: string): Promise<void> {
    await handleStalePending(
      this.options,
      {
        path,
        what: `a pending version ${staleVersion} (${PENDING})`,
        fields: { staleVersion, stage: PENDING },
        howToRemove: `remove its ${PENDING} label`,
      },
      () =>
        this.moveLabel(
          path,
          PENDING,
          { from: staleVersion },
          `remove the stale ${PENDING} from version ${staleVersion} of ${path}`,
        ),
    );
  }

  async readPending(path: string, rotationId: string): Promise<Pending | null> {
    const token = versionTokenFor(rotationId);
    const stages = await this.stages(path);
    if (!stages?.[token]?.includes(PENDING)) return null;
    const got = await this.getValue(path, { VersionId: token }, `read pending of ${path}`);
    if (!got) return null;
    const baseVersion = stages[token].includes(CURRENT) ? realVersionWith(stages, PREVIOUS) : realVersionWith(stages, CURRENT);
    return { value: parseSecretJson(got.SecretString, `the ${PENDING} version of ${path}`), baseVersion };
  }

  async otherPending(path: string, rotationId: string): Promise<string | null> {
    const token = versionTokenFor(rotationId);
    const stages = (await this.stages(path)) ?? {};
    return Object.entries(stages).find(([id, labels]) => id !== token && labels.includes(PENDING))?.[0] ?? null;
  }

  async discardPending(path: string, rotationId: string): Promise<void> {
    await this.dropPending(path, versionTokenFor(rotationId));
  }

  async publishedBy(path: string, rotationId: string): Promise<PromoteResult | null> {
    const token = versionTokenFor(rotationId);
    const stages = await this.stages(path);
    if (!stages?.[token]?.includes(CURRENT)) return null;
    return { version: token, previousVersion: realVersionWith(stages, PREVIOUS) };
  }

  /** Moves AWSCURRENT to this rotation's version; its AWSPENDING label stays as the claim until discardPending. */
  async promote(path: string, rotationId: string, expectedCurrent: string | null): Promise<PromoteResult> {
    const token = versionTokenFor(rotationId);
    const stages = await this.stages(path);
    if (!stages) throw new RotatorError('NOT_FOUND', `${path} does not exist; nothing of this rotation to promote`);
    const current = versionWith(stages, CURRENT);
    if (current === token) {
      // A re-run (or a retry after a promote whose answer was lost): the tags may not have been written yet.
      await this.tagRotation(path, { version: token, rotationId });
      return { version: token, previousVersion: realVersionWith(stages, PREVIOUS) };
    }
    if (!stages[token]?.includes(PENDING)) {
      // AWS leaves unlabelled versions out of VersionIdsToStages; moto lists them with no labels: same thing.
      if (stages[token]?.length) {
        throw new RotatorError(
          'CONFLICT',
          `${path}: version ${token} of this rotation is no longer pending (labels: ${stages[token].join(', ')})`,
        );
      }
      throw new RotatorError('NOT_FOUND', `no pending credential of this rotation at ${path}`);
    }
    const found = isPlaceholder(current) ? null : current;
    if (found !== expectedCurrent) {
      throw new RotatorError(
        'CONFLICT',
        `${path} changed during rotation: expected version ${expectedCurrent ?? '(none)'}, found ${found ?? '(none)'}`,
      );
    }
    // Secrets Manager moves AWSPREVIOUS to the version AWSCURRENT leaves, so the old value stays readable as previous.
    await this.moveLabel(
      path,
      CURRENT,
      { to: token, ...(current ? { from: current } : {}) },
      `promote version ${token} of ${path}`,
    );
    await this.tagRotation(path, { version: token, rotationId });
    return { version: token, previousVersion: expectedCurrent };
  }

  /**
   * With `rotationTags`, records on the secret when its AWSCURRENT `version` was written and (when a rotation published
   * it) which one. Idempotent: the time is the version's own CreatedDate, so a retry writes the same tags. A refusal
   * (no secretsmanager:TagResource) is logged, not thrown: the credential is published, and undoing a rotation over
   * its report would be worse than a missing report.
   */
  private async tagRotation(path: string, current: { version: string | null; rotationId?: string }): Promise<void> {
    if (!this.options.rotationTags) return;
    try {
      const got = current.version ? await this.getValue(path, { VersionId: current.version }, `read ${path}`) : null;
      const written = got?.CreatedDate && !isPlaceholder(current.version) ? got.CreatedDate.toISOString() : null;
      const Tags = [
        { Key: ROTATION_TAGS.managed, Value: 'true' },
        ...(written ? [{ Key: ROTATION_TAGS.lastRotated, Value: written }] : []),
        ...(current.rotationId ? [{ Key: ROTATION_TAGS.rotatedBy, Value: current.rotationId }] : []),
      ];
      await this.client.send(new TagResourceCommand({ SecretId: path, Tags }));
      // What no longer holds goes: a rollback's restored version was not published by this rotation, nor maybe dated.
      const stale = [...(written ? [] : [ROTATION_TAGS.lastRotated]), ...(current.rotationId ? [] : [ROTATION_TAGS.rotatedBy])];
      if (stale.length) await this.client.send(new UntagResourceCommand({ SecretId: path, TagKeys: stale }));
    } catch (err) {
      const e = awsError(err, `tag ${path} with its rotation`);
      logger.warn({ path, code: e.code }, `could not record the rotation on the secret's tags: ${e.message}`);
    }
  }

  /** The placeholder still labelled (normally AWSPREVIOUS after promote), else the one this rotation would have made. */
  private async placeholderOf(path: string, rotationId: string, stages: Stages): Promise<string | null> {
    const labelled = Object.keys(stages).find(isPlaceholder);
    if (labelled) return labelled;
    const own = placeholderTokenFor(rotationId);
    return (await this.getValue(path, { VersionId: own }, `read version ${own} of ${path}`)) ? own : null;
  }

  async rollback(path: string, rotationId: string, versions: { toVersion: string | null; fromVersion: string }): Promise<void> {
    const stages = await this.stages(path);
    if (!stages) {
      if (versions.toVersion === null) return; // gone altogether: there was nothing before either
      throw new RotatorError('NOT_FOUND', `${path} no longer exists; cannot roll back to version ${versions.toVersion}`);
    }
    // "No value before this rotation" is the placeholder: moving AWSCURRENT back to it reads as absent again, and
    // avoids deleting a secret (which AWS only does after a recovery window that blocks the name).
    const target = versions.toVersion ?? (await this.placeholderOf(path, rotationId, stages));
    if (target === null) {
      throw new RotatorError(
        'CONFLICT',
        `${path} has no placeholder version to return to; it existed before this rotation under another tool`,
      );
    }
    const current = versionWith(stages, CURRENT);
    if (current !== target) {
      if (current !== versions.fromVersion) {
        throw movedSincePublish(path, current);
      }
      if (versions.toVersion !== null && !(await this.readVersion(path, versions.toVersion))) {
        throw versionGone(path, versions.toVersion);
      }
      await this.moveLabel(path, CURRENT, { to: target, from: versions.fromVersion }, `roll back ${path} to version ${target}`);
    }
    // The tags describe the version current again: when it was written; no rotation we know of published it.
    await this.tagRotation(path, { version: versions.toVersion });
    // This rotation's own AWSPENDING stays as its claim until discardPending.
  }

  async close(): Promise<void> {
    this.client.destroy();
  }
}
