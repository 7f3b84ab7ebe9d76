// Azure Key Vault store: each publish is a new version of `<name>`; pending values are versions of `<name>-rotator-pending`.
import { createHash } from 'node:crypto';
import { SecretClient, type KeyVaultSecret, type SecretClientOptions, type SecretProperties } from '@azure/keyvault-secrets';
import { RotatorError, type ErrorCode } from '../../../src/kernel/errors';
import { redact } from '../../../src/kernel/redact';
import { claimPendingSlot, type StalePendingOptions } from '../stale-pending';
import { parseSecretJson, secretsOf } from '../json-value';
import { movedSincePublish, versionGone } from '../store-errors';
import type { Pending, PromoteResult, SecretStore, SecretValue, Versioned } from '../../types';
import { CAPABILITIES, PENDING_SUFFIX, secretNameOf } from './index';

export interface AzureKeyVaultOptions extends StalePendingOptions {
  vaultUrl: string;
  credential: ConstructorParameters<typeof SecretClient>[1];
  /**
   * Passed to the SDK as they are. A vault behind a private CA takes `tlsOptions: { ca }`; a server that is not
   * under vault.azure.net (a test double) also needs `disableChallengeResourceVerification: true`.
   */
  clientOptions?: SecretClientOptions;
}

/**
 * rotator's bookkeeping is in tags (at most 15 per version, values at most 256 characters), written with the
 * version they describe, so a record never lags the write it records.
 */
const TAG = {
  /** On a version of `<name>`: the rotation that published it, and the version it replaced (or `none`). */
  publishedBy: 'rotator-published-by',
  previous: 'rotator-previous',
  /** On a version of `<name>` written by a rollback: the rotation undone, and the version whose value it restores. */
  rolledBackBy: 'rotator-rolled-back-by',
  restores: 'rotator-restores',
  /** A `{}` version that stands for "no value" (the undo of a first publish): Key Vault cannot unpublish. */
  placeholder: 'rotator-placeholder',
  /** On a version of `<name>-rotator-pending`: whose claim it is, what it was staged against, and where it stands. */
  rotation: 'rotator-rotation',
  base: 'rotator-base',
  claim: 'rotator-claim',
} as const;
const NONE = 'none';

/** A claim version goes claiming → held (it won) or released (it lost, or its rotation ended). */
type ClaimState = 'claiming' | 'held' | 'released';

interface Claim {
  version: string;
  rotation: string;
  state: Exclude<ClaimState, 'released'>;
  base: string | null;
}

/** Tag values stop at 256 characters: a longer rotation id is recorded as its hash. */
export function rotationTag(rotationId: string): string {
  return rotationId.length <= 256 ? rotationId : `sha256-${createHash('sha256').update(rotationId).digest('hex')}`;
}

const VERSION_ID = /^[0-9a-f]{32}$/i;
/** How long a claim waits for rivals it precedes to give up or take the slot (a crashed one never does). */
const SETTLE_MS = 10_000;
const SETTLE_POLL_MS = 100;

interface RestErrorShape {
  name?: string;
  statusCode?: number;
  code?: string;
  message?: string;
}

/**
 * Key Vault errors name the secret, not its value; still, the message goes through redact() with the values held,
 * and nothing of the SDK's error (whose request carries the body sent) is kept.
 */
function azureError(err: unknown, action: string, secrets: ReadonlyArray<string | undefined> = []): RotatorError {
  if (err instanceof RotatorError) return err;
  const e = (err ?? {}) as RestErrorShape;
  const what = e.code ?? e.name ?? 'Error';
  const text = redact(`${action} failed: ${what}: ${(e.message ?? String(err)).split('\n')[0]}`, secrets);
  const code: ErrorCode = (() => {
    if (e.name === 'CredentialUnavailableError') return 'CONFIG_INVALID';
    if (e.name === 'AuthenticationError' || e.name === 'AggregateAuthenticationError') return 'PERMISSION_DENIED';
    switch (e.statusCode) {
      case 400:
        return 'CONFIG_INVALID';
      case 401:
      case 403:
        return 'PERMISSION_DENIED';
      case 404:
        return 'NOT_FOUND';
      case 409:
        // A deleted secret keeps its name until it is purged or recovered (soft delete).
        return 'CONFLICT';
      default:
        return 'TRANSIENT';
    }
  })();
  return new RotatorError(code, text);
}

function isNotFound(err: unknown): boolean {
  return (err as RestErrorShape | undefined)?.statusCode === 404;
}

export class AzureKeyVaultStore implements SecretStore {
  /** Declared by the plugin (./index). */
  readonly capabilities = CAPABILITIES;
  private readonly client: SecretClient;

  constructor(private readonly options: AzureKeyVaultOptions) {
    this.client = new SecretClient(options.vaultUrl, options.credential, options.clientOptions);
  }

  private async get(name: string, version: string | undefined, action: string): Promise<KeyVaultSecret | null> {
    try {
      return await this.client.getSecret(name, version ? { version } : {});
    } catch (err) {
      if (isNotFound(err)) return null;
      throw azureError(err, action);
    }
  }

  private async set(name: string, value: SecretValue, tags: Record<string, string>, action: string): Promise<string> {
    try {
      const out = await this.client.setSecret(name, JSON.stringify(value), { tags, contentType: 'application/json' });
      if (!out.properties.version) throw new RotatorError('TRANSIENT', `${action}: Key Vault returned no version`);
      return out.properties.version;
    } catch (err) {
      throw azureError(err, action, secretsOf(value));
    }
  }

  /** Every version's properties (tags included, values not), oldest first; [] when the secret does not exist. */
  private async versions(name: string): Promise<SecretProperties[]> {
    const out: SecretProperties[] = [];
    try {
      for await (const p of this.client.listPropertiesOfSecretVersions(name)) out.push(p);
    } catch (err) {
      if (isNotFound(err)) return [];
      throw azureError(err, `list the versions of ${name}`);
    }
    return out.sort((a, b) => (a.createdOn?.getTime() ?? 0) - (b.createdOn?.getTime() ?? 0));
  }

  private value(secret: KeyVaultSecret, where: string): SecretValue {
    return parseSecretJson(secret.value, where);
  }

  async readCurrent(path: string): Promise<Versioned<SecretValue> | null> {
    const name = secretNameOf(path);
    const latest = await this.get(name, undefined, `read ${path}`);
    if (!latest?.properties.version || latest.properties.tags?.[TAG.placeholder]) return null;
    return { version: latest.properties.version, value: this.value(latest, `the latest version of ${path}`) };
  }

  async publishedAt(path: string): Promise<number | null> {
    const latest = await this.get(secretNameOf(path), undefined, `read ${path}`);
    if (!latest || latest.properties.tags?.[TAG.placeholder]) return null;
    return latest.properties.createdOn?.getTime() ?? null;
  }

  async readVersion(path: string, version: string): Promise<SecretValue | null> {
    if (!VERSION_ID.test(version)) return null; // not a Key Vault version id
    const got = await this.get(secretNameOf(path), version, `read version ${version} of ${path}`);
    if (!got || got.properties.tags?.[TAG.placeholder]) return null;
    return this.value(got, `version ${version} of ${path}`);
  }

  // -- the pending slot: versions of `<name>-rotator-pending`, one per claim --------------------------------------

  /** The claims not yet released, oldest first. */
  private async claims(pendingName: string): Promise<Claim[]> {
    const out: Claim[] = [];
    for (const p of await this.versions(pendingName)) {
      const tags = p.tags ?? {};
      const state = tags[TAG.claim];
      if (!p.version || (state !== 'claiming' && state !== 'held')) continue;
      const base = tags[TAG.base];
      out.push({
        version: p.version,
        rotation: tags[TAG.rotation] ?? '(unknown)',
        state,
        base: base && base !== NONE ? base : null,
      });
    }
    return out;
  }

  private claimTags(rotationId: string, base: string | null, state: ClaimState): Record<string, string> {
    return { [TAG.rotation]: rotationTag(rotationId), [TAG.base]: base ?? NONE, [TAG.claim]: state };
  }

  private async mark(pendingName: string, claim: Claim, state: ClaimState): Promise<void> {
    const tags = { [TAG.rotation]: claim.rotation, [TAG.base]: claim.base ?? NONE, [TAG.claim]: state };
    try {
      // A released claim is also disabled, so its value (a password) can no longer be read from the vault.
      await this.client.updateSecretProperties(pendingName, claim.version, {
        tags,
        ...(state === 'released' ? { enabled: false } : {}),
      });
    } catch (err) {
      throw azureError(err, `mark version ${claim.version} of ${pendingName} ${state}`);
    }
  }

  /**
   * Key Vault has no create-only write, so the claim is a protocol over versions of the pending secret. Write a
   * `claiming` version, then list the claims again:
   * - another rotation's claim is `held`, or `claiming` with a lower version id (ids order rivals the same way for
   *   everyone): give up, release ours, CONFLICT;
   * - only claims ours precedes are still `claiming`: each of them either saw ours and gives up, or listed before ours
   *   was written and takes the slot; wait until they settle (at most SETTLE_MS), then look again;
   * - no other claim: take the slot (`held`).
   * Given that a list made after a write shows that write, two rotations never both take the slot: the one that
   * listed first without seeing the other is seen by it. Of two staging at once, the one with the lower id gets it.
   */
  private async claim(
    path: string,
    rotationId: string,
    value: SecretValue,
    base: string | null,
    own: Claim | undefined,
  ): Promise<void> {
    const pendingName = secretNameOf(path) + PENDING_SUFFIX;
    const mine: Claim = own ?? {
      version: await this.set(pendingName, value, this.claimTags(rotationId, base, 'claiming'), `stage pending of ${path}`),
      rotation: rotationTag(rotationId),
      state: 'claiming',
      base,
    };
    const precedes = (a: Claim, b: Claim) => a.version.toLowerCase() < b.version.toLowerCase();
    const deadline = Date.now() + SETTLE_MS;
    for (;;) {
      const rivals = (await this.claims(pendingName)).filter((c) => c.rotation !== mine.rotation);
      if (rivals.length === 0) return this.mark(pendingName, mine, 'held');
      const winner = rivals.find((c) => c.state === 'held' || precedes(c, mine));
      if (winner || Date.now() > deadline) {
        const rival = winner ?? rivals[0]!;
        await this.mark(pendingName, mine, 'released');
        throw new RotatorError(
          'CONFLICT',
          `${path}: rotation ${rival.rotation} staged at the same moment (version ${rival.version} of ${pendingName})${winner ? '' : ' and has not settled'}; this rotation gave the slot up`,
        );
      }
      await new Promise((resolve) => setTimeout(resolve, SETTLE_POLL_MS));
    }
  }

  async stagePending(path: string, rotationId: string, value: SecretValue, baseVersion: string | null): Promise<void> {
    const pendingName = secretNameOf(path) + PENDING_SUFFIX;
    const tag = rotationTag(rotationId);
    const claims = await this.claims(pendingName);
    const own = claims.find((c) => c.rotation === tag);
    if (own?.state === 'held') return; // a retried stage keeps the first value
    const others = claims.filter((c) => c.rotation !== tag);
    const holder = others.find((c) => c.state === 'held') ?? others[0];
    // A half-made claim of ours is resumed once; a claim given up is released, so another attempt writes a new one.
    let resume = own;
    const attempt = () => {
      const from = resume;
      resume = undefined;
      return this.claim(path, rotationId, value, baseVersion, from);
    };
    try {
      await claimPendingSlot(this.options, {
        path,
        rotationId,
        holder: holder?.rotation ?? null,
        where: holder ? `version ${holder.version} of ${pendingName}` : pendingName,
        fields: { pendingSecret: pendingName, ...(holder ? { pendingVersion: holder.version } : {}) },
        howToRemove: `disable that version (az keyvault secret set-attributes --vault-name <vault> --name ${pendingName} --version ${holder?.version ?? '<version>'} --enabled false --tags ${TAG.claim}=released)`,
        create: attempt,
        overwrite: async () => {
          for (const other of others) await this.mark(pendingName, other, 'released');
          await attempt();
        },
        ours: async () => (await this.readPending(path, rotationId)) !== null,
        other: () => this.otherPending(path, rotationId),
      });
    } catch (err) {
      // A claim of ours left half-made (a worker died mid-claim) must not keep others out once we lost; if the vault
      // cannot be reached for that either, the first error is the one to report.
      if (own && err instanceof RotatorError && err.code === 'CONFLICT')
        await this.mark(pendingName, own, 'released').catch(() => undefined);
      throw err;
    }
  }

  async readPending(path: string, rotationId: string): Promise<Pending | null> {
    const pendingName = secretNameOf(path) + PENDING_SUFFIX;
    const tag = rotationTag(rotationId);
    const held = (await this.claims(pendingName)).find((c) => c.rotation === tag && c.state === 'held');
    if (!held) return null;
    const got = await this.get(pendingName, held.version, `read pending of ${path}`);
    if (!got) return null;
    return { value: this.value(got, `version ${held.version} of ${pendingName}`), baseVersion: held.base };
  }

  async otherPending(path: string, rotationId: string): Promise<string | null> {
    const tag = rotationTag(rotationId);
    const others = (await this.claims(secretNameOf(path) + PENDING_SUFFIX)).filter((c) => c.rotation !== tag);
    return (others.find((c) => c.state === 'held') ?? others[0])?.rotation ?? null;
  }

  async discardPending(path: string, rotationId: string): Promise<void> {
    const pendingName = secretNameOf(path) + PENDING_SUFFIX;
    const tag = rotationTag(rotationId);
    for (const c of await this.claims(pendingName)) if (c.rotation === tag) await this.mark(pendingName, c, 'released');
  }

  // -- publishing: new versions of `<name>` ----------------------------------------------------------------------

  async publishedBy(path: string, rotationId: string): Promise<PromoteResult | null> {
    const tag = rotationTag(rotationId);
    const versions = await this.versions(secretNameOf(path));
    if (versions.some((v) => v.tags?.[TAG.rolledBackBy] === tag)) return null;
    const published = versions.find((v) => v.tags?.[TAG.publishedBy] === tag);
    if (!published?.version) return null;
    const previous = published.tags?.[TAG.previous];
    return { version: published.version, previousVersion: previous && previous !== NONE ? previous : null };
  }

  /**
   * Checks that the latest version is the expected one, then writes the pending value as a new version, tagged with
   * this rotation and the version it replaces (one request, so the record cannot lag the publish). Key Vault has
   * no conditional write: a writer outside rotator landing between the check and the write is not detected; its
   * version stays readable by id, and ours becomes the latest.
   */
  async promote(path: string, rotationId: string, expectedCurrent: string | null): Promise<PromoteResult> {
    const published = await this.publishedBy(path, rotationId);
    if (published) return published;
    const pending = await this.readPending(path, rotationId);
    if (!pending) throw new RotatorError('NOT_FOUND', `no pending credential of this rotation at ${path}`);
    const found = (await this.readCurrent(path))?.version ?? null;
    if (found !== expectedCurrent) {
      throw new RotatorError(
        'CONFLICT',
        `${path} changed during rotation: expected version ${expectedCurrent ?? '(none)'}, found ${found ?? '(none)'}`,
      );
    }
    const version = await this.set(
      secretNameOf(path),
      pending.value,
      { [TAG.publishedBy]: rotationTag(rotationId), [TAG.previous]: expectedCurrent ?? NONE },
      `publish ${path}`,
    );
    return { version, previousVersion: expectedCurrent };
  }

  /**
   * Key Vault serves the latest version and cannot move back to an older one, so a rollback writes the old value
   * again as a new version (or, when there was none, a `{}` placeholder this store reads as absent: deleting the
   * secret would hold its name in soft-deleted state and refuse the next rotation's write).
   */
  async rollback(path: string, rotationId: string, versions: { toVersion: string | null; fromVersion: string }): Promise<void> {
    const name = secretNameOf(path);
    const tag = rotationTag(rotationId);
    const latest = await this.get(name, undefined, `read ${path}`);
    if (!latest) {
      if (versions.toVersion === null) return;
      throw new RotatorError('NOT_FOUND', `${path} no longer exists; cannot roll back to version ${versions.toVersion}`);
    }
    if (latest.properties.tags?.[TAG.rolledBackBy] === tag) return;
    if (latest.properties.version !== versions.fromVersion) {
      if ((await this.versions(name)).some((v) => v.tags?.[TAG.rolledBackBy] === tag)) return; // done, then written over
      throw movedSincePublish(path, latest.properties.tags?.[TAG.placeholder] ? null : (latest.properties.version ?? null));
    }
    const tags: Record<string, string> = { [TAG.rolledBackBy]: tag, [TAG.restores]: versions.toVersion ?? NONE };
    if (versions.toVersion === null) {
      await this.set(name, {}, { ...tags, [TAG.placeholder]: 'true' }, `roll back ${path}`);
      return;
    }
    const previous = await this.readVersion(path, versions.toVersion);
    if (!previous) throw versionGone(path, versions.toVersion);
    await this.set(name, previous, tags, `roll back ${path}`);
  }

  async close(): Promise<void> {
    // The SDK's pipeline holds no connection open between requests that needs closing.
  }
}
