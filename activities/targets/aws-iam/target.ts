// An IAM user's access keys as an IssuingTarget: CreateAccessKey issues, STS GetCallerIdentity signed with the new key
// verifies, UpdateAccessKey Inactive suspends (Active resumes), DeleteAccessKey withdraws.
import {
  CreateAccessKeyCommand,
  DeleteAccessKeyCommand,
  IAMClient,
  ListAccessKeysCommand,
  UpdateAccessKeyCommand,
  type AccessKeyMetadata,
} from '@aws-sdk/client-iam';
import { GetCallerIdentityCommand, STSClient } from '@aws-sdk/client-sts';
import { RotatorError } from '../../../src/kernel/errors';
import { parseDuration } from '../../../src/kernel/duration';
import { awsError, awsErrorName, awsStepClientConfig } from '../../stores/aws-common';
import type { TargetPlanOf } from '../../plugin';
import type { IssuedCredential, IssuingTarget, JsonValue, SecretValue, VerifiedAt } from '../../types';
import type { AwsIamConfig } from './index';

/** The stored fields of a key, by the AWS convention (the shape `aws configure` and the SDKs' JSON credentials use). */
export const ACCESS_KEY_ID = 'AccessKeyId';
export const SECRET_ACCESS_KEY = 'SecretAccessKey';

/**
 * AWS stamps CreateDate by its own clock, the rotation's start is the worker's: a key created up to this long before
 * the rotation started (by AWS's clock) is still taken for one of its own.
 */
export const CLOCK_SKEW_MS = 2_000;

/** The first tries of a verify come quickly (most new keys work within a second or two), later ones up to this far apart. */
const VERIFY_MAX_INTERVAL_MS = 2_000;

/** The admin credential: keys (and a session token, if temporary) by the same AWS convention. */
export function adminKeys(admin: SecretValue): { accessKeyId: string; secretAccessKey: string; sessionToken?: string } {
  const id = admin[ACCESS_KEY_ID];
  const secret = admin[SECRET_ACCESS_KEY];
  if (typeof id !== 'string' || typeof secret !== 'string' || !id || !secret) {
    throw new RotatorError(
      'CONFIG_INVALID',
      `the admin secret holds no ${ACCESS_KEY_ID} and ${SECRET_ACCESS_KEY}`,
      'target.connection',
    );
  }
  const token = admin.SessionToken;
  return { accessKeyId: id, secretAccessKey: secret, ...(typeof token === 'string' && token ? { sessionToken: token } : {}) };
}

type Plan = TargetPlanOf<AwsIamConfig>;

export function iamClient(target: Plan, admin: SecretValue): IAMClient {
  return new IAMClient({
    ...awsStepClientConfig({ region: target.region, ...(target.endpoint ? { endpoint: target.endpoint } : {}) }),
    credentials: adminKeys(admin),
  });
}

export function stsClient(
  target: Plan,
  credentials: { accessKeyId: string; secretAccessKey: string; sessionToken?: string },
): STSClient {
  return new STSClient({
    ...awsStepClientConfig({ region: target.region, ...(target.endpoint ? { endpoint: target.endpoint } : {}) }),
    credentials,
  });
}

/** Whether an ARN names this IAM user (any path): `arn:aws:iam::123456789012:user/ops/app` → `app`. */
export function isUserArn(arn: string | undefined, user: string): boolean {
  return !!arn && /^arn:aws[a-z-]*:iam::\d{12}:user\//.test(arn) && arn.split('/').at(-1) === user;
}

export class IamTarget implements IssuingTarget {
  readonly issues = true as const;
  readonly endpoint: Readonly<Record<string, JsonValue>> = {};
  private readonly iam: IAMClient;
  private readonly user: string;
  private readonly verifyTimeoutMs: number;

  constructor(
    private readonly target: Plan,
    admin: SecretValue,
  ) {
    this.iam = iamClient(target, admin);
    this.user = target.user;
    this.verifyTimeoutMs = parseDuration(target.verify_timeout);
  }

  credentialFields(credential: IssuedCredential): Readonly<Record<string, JsonValue | undefined>> {
    return { [ACCESS_KEY_ID]: credential.id, [SECRET_ACCESS_KEY]: credential.secret };
  }

  credentialOf(value: SecretValue): IssuedCredential | null {
    const id = value[ACCESS_KEY_ID];
    const secret = value[SECRET_ACCESS_KEY];
    return typeof id === 'string' && typeof secret === 'string' && id && secret ? { id, secret } : null;
  }

  private async keys(step: string): Promise<AccessKeyMetadata[]> {
    try {
      const out = await this.iam.send(new ListAccessKeysCommand({ UserName: this.user }));
      return out.AccessKeyMetadata ?? [];
    } catch (err) {
      throw awsError(err, `${step}: ListAccessKeys of IAM user ${this.user}`, [], {
        NoSuchEntity: 'NOT_FOUND',
        NoSuchEntityException: 'NOT_FOUND',
      });
    }
  }

  /**
   * Creates the user's second key. Before that, what is there is sorted out: a key that is not the stored one and was
   * created since this rotation started is this rotation's own, left by a run that died before it could stage it (its
   * secret cannot be read again): it is deleted. Then one key besides the stored one means IAM's limit of two:
   * refused with the reason, or with `when_full: delete-inactive` that key is deleted if it is Inactive.
   */
  async issue(request: { rotationId: string; startedAt: number; current: IssuedCredential | null }): Promise<IssuedCredential> {
    const step = 'issue';
    let keys = await this.keys(step);
    const ownSince = request.startedAt - CLOCK_SKEW_MS;
    for (const k of keys) {
      if (k.AccessKeyId === request.current?.id) continue;
      if (k.CreateDate && k.CreateDate.getTime() >= ownSince) await this.deleteKey(k.AccessKeyId!, step);
    }
    keys = await this.keys(step);
    const others = keys.filter((k) => k.AccessKeyId !== request.current?.id);
    const stored = keys.length - others.length;
    if (keys.length >= 2) {
      const other = others[0]!;
      const what = `${other.AccessKeyId} (${other.Status}, created ${other.CreateDate?.toISOString() ?? 'at an unknown time'})`;
      if (this.target.when_full === 'delete-inactive' && other.Status === 'Inactive' && others.length === 1) {
        await this.deleteKey(other.AccessKeyId!, step);
      } else {
        const reason =
          stored === 0
            ? `IAM user ${this.user} already has two access keys and the store holds neither`
            : `IAM user ${this.user} already has two access keys: the stored one and ${what}`;
        const fix =
          this.target.when_full === 'delete-inactive'
            ? 'it is not Inactive, so it is left alone; deactivate or delete it if nothing uses it'
            : 'delete it if nothing uses it, or set when_full: delete-inactive to have an Inactive one deleted';
        throw new RotatorError('CONFLICT', `${reason}; IAM allows two, so there is no room for a new one: ${fix}`);
      }
    }
    try {
      const out = await this.iam.send(new CreateAccessKeyCommand({ UserName: this.user }));
      const key = out.AccessKey;
      if (!key?.AccessKeyId || !key.SecretAccessKey)
        throw new RotatorError('TRANSIENT', `${step}: CreateAccessKey returned no key`);
      return { id: key.AccessKeyId, secret: key.SecretAccessKey };
    } catch (err) {
      throw awsError(err, `${step}: CreateAccessKey for IAM user ${this.user}`, [], {
        LimitExceeded: 'CONFLICT',
        LimitExceededException: 'CONFLICT',
        NoSuchEntity: 'NOT_FOUND',
        NoSuchEntityException: 'NOT_FOUND',
      });
    }
  }

  /**
   * STS GetCallerIdentity signed with the key must answer with this user's ARN. A new key may be refused for a few
   * seconds (IAM is eventually consistent), so a refusal is tried again, 250 ms apart and doubling up to 2 s, until
   * `verify_timeout` has passed; then it is VERIFY_FAILED. AWS not answering at all is TRANSIENT at once.
   */
  async verify(credential: IssuedCredential, stored: SecretValue): Promise<VerifiedAt> {
    const sts = stsClient(this.target, { accessKeyId: credential.id, secretAccessKey: credential.secret });
    const where = this.target.endpoint ?? `sts.${this.target.region}.amazonaws.com`;
    const deadline = Date.now() + this.verifyTimeoutMs;
    let wait = 250;
    let last = '';
    try {
      for (;;) {
        try {
          const me = await sts.send(new GetCallerIdentityCommand({}));
          if (isUserArn(me.Arn, this.user)) return { endpoint: where, from: 'target connection' };
          last = `key ${credential.id} signs as ${me.Arn ?? '(no ARN)'}, not as IAM user ${this.user}`;
        } catch (err) {
          const e = awsError(err, `verify: GetCallerIdentity with key ${credential.id}`, [credential.secret]);
          if (e.code !== 'PERMISSION_DENIED') throw e;
          last = e.message;
        }
        if (Date.now() + wait > deadline) break;
        await new Promise((r) => setTimeout(r, wait));
        wait = Math.min(wait * 2, VERIFY_MAX_INTERVAL_MS);
      }
    } finally {
      sts.destroy();
    }
    void stored;
    throw new RotatorError('VERIFY_FAILED', `${last} (tried for ${this.target.verify_timeout})`);
  }

  async suspend(credential: IssuedCredential): Promise<void> {
    await this.setStatus(credential.id, 'Inactive', 'suspend');
  }

  async resume(credential: IssuedCredential): Promise<void> {
    await this.setStatus(credential.id, 'Active', 'resume');
  }

  async withdraw(credential: IssuedCredential): Promise<void> {
    await this.deleteKey(credential.id, 'withdraw');
  }

  private async setStatus(id: string, status: 'Active' | 'Inactive', step: string): Promise<void> {
    try {
      await this.iam.send(new UpdateAccessKeyCommand({ UserName: this.user, AccessKeyId: id, Status: status }));
    } catch (err) {
      if (isNoSuchEntity(err) && status === 'Inactive') return; // gone is as out of service as it gets
      throw awsError(err, `${step}: UpdateAccessKey ${id} of IAM user ${this.user} to ${status}`, [], {
        NoSuchEntity: 'NOT_FOUND',
        NoSuchEntityException: 'NOT_FOUND',
      });
    }
  }

  private async deleteKey(id: string, step: string): Promise<void> {
    try {
      await this.iam.send(new DeleteAccessKeyCommand({ UserName: this.user, AccessKeyId: id }));
    } catch (err) {
      if (isNoSuchEntity(err)) return; // already gone
      throw awsError(err, `${step}: DeleteAccessKey ${id} of IAM user ${this.user}`);
    }
  }

  async close(): Promise<void> {
    this.iam.destroy();
  }
}

function isNoSuchEntity(err: unknown): boolean {
  const name = awsErrorName(err);
  return name === 'NoSuchEntity' || name === 'NoSuchEntityException';
}
