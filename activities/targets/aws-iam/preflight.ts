// `rotator plan` for an aws-iam target: who the admin credential is, the user and its keys, and whether the admin may
// do each step, found out without changing anything.
import {
  GetUserCommand,
  ListAccessKeysCommand,
  SimulatePrincipalPolicyCommand,
  UpdateAccessKeyCommand,
  CreateAccessKeyCommand,
  DeleteAccessKeyCommand,
  type IAMClient,
} from '@aws-sdk/client-iam';
import { GetCallerIdentityCommand } from '@aws-sdk/client-sts';
import { awsErrorName } from '../../stores/aws-common';
import type { PreflightCheck, TargetPlanOf } from '../../plugin';
import type { SecretValue } from '../../types';
import type { AwsIamConfig } from './index';
import { adminKeys, iamClient, stsClient } from './target';

/** What a rotation calls, by step. */
const ACTIONS = [
  { action: 'iam:ListAccessKeys', step: 'issue (finds the keys the user has)' },
  { action: 'iam:CreateAccessKey', step: 'issue' },
  { action: 'iam:UpdateAccessKey', step: 'revoke (deactivates the old key first)' },
  { action: 'iam:DeleteAccessKey', step: 'revoke, and rollback of a new key' },
] as const;

/** A key id no account has: a probe with it changes nothing, and tells allowed (NoSuchEntity) from denied. */
const NO_SUCH_KEY = 'AKIAROTATORPREFLIGHT0';

const DENIED = new Set(['AccessDenied', 'AccessDeniedException', 'UnauthorizedOperation']);

function policyFix(action: string, userArn: string): string {
  return `allow ${action} on ${userArn} to the admin credential's principal (e.g. {"Effect":"Allow","Action":"${action}","Resource":"${userArn}"})`;
}

export async function preflight(target: TargetPlanOf<AwsIamConfig>, admin: SecretValue): Promise<PreflightCheck[]> {
  const checks: PreflightCheck[] = [];
  let sts;
  try {
    sts = stsClient(target, adminKeys(admin));
  } catch (err) {
    return [
      {
        check: 'admin credential',
        status: 'fail',
        detail: (err as Error).message,
        fix: 'store AccessKeyId and SecretAccessKey in the admin secret',
      },
    ];
  }
  let callerArn: string | undefined;
  let account: string | undefined;
  try {
    const me = await sts.send(new GetCallerIdentityCommand({}));
    callerArn = me.Arn;
    account = me.Account;
    checks.push({ check: 'admin credential', status: 'ok', detail: `signs as ${me.Arn}` });
  } catch (err) {
    checks.push({
      check: 'admin credential',
      status: 'fail',
      detail: `STS GetCallerIdentity refused it: ${awsErrorName(err)}`,
      fix: 'store a working key of the admin principal in the admin secret',
    });
    return checks;
  } finally {
    sts.destroy();
  }
  const iam = iamClient(target, admin);
  try {
    let userArn = `arn:aws:iam::${account ?? '<account>'}:user/${target.user}`;
    try {
      const u = await iam.send(new GetUserCommand({ UserName: target.user }));
      userArn = u.User?.Arn ?? userArn;
      checks.push({ check: `IAM user ${target.user}`, status: 'ok', detail: `exists (${userArn})` });
    } catch (err) {
      const name = awsErrorName(err);
      checks.push(
        name === 'NoSuchEntity' || name === 'NoSuchEntityException'
          ? {
              check: `IAM user ${target.user}`,
              status: 'fail',
              detail: 'does not exist',
              fix: `create the user, or fix target.user`,
            }
          : {
              check: `IAM user ${target.user}`,
              status: 'warn',
              detail: `could not be read: ${name}`,
              fix: `allow iam:GetUser on ${userArn}`,
            },
      );
    }
    checks.push(...(await keySlots(iam, target)));
    checks.push(...(await permissions(iam, target, callerArn!, userArn)));
  } finally {
    iam.destroy();
  }
  return checks;
}

/** Whether there is room for a second key: IAM allows two per user. */
async function keySlots(iam: IAMClient, target: TargetPlanOf<AwsIamConfig>): Promise<PreflightCheck[]> {
  try {
    const keys = (await iam.send(new ListAccessKeysCommand({ UserName: target.user }))).AccessKeyMetadata ?? [];
    const detail = `${keys.length} of 2 (${keys.map((k) => `${k.AccessKeyId} ${k.Status}`).join(', ') || 'none'})`;
    if (keys.length < 2) return [{ check: 'access keys', status: 'ok', detail }];
    const inactive = keys.filter((k) => k.Status === 'Inactive').length;
    return [
      {
        check: 'access keys',
        status: target.when_full === 'delete-inactive' && inactive > 0 ? 'warn' : 'fail',
        detail: `${detail}: no room for a new one`,
        fix:
          target.when_full === 'delete-inactive'
            ? 'a rotation deletes the Inactive key that the store does not hold; an Active one it refuses to touch'
            : 'delete the key nothing uses, or set when_full: delete-inactive to have an Inactive one deleted',
      },
    ];
  } catch {
    return []; // said by the permission check of iam:ListAccessKeys
  }
}

/**
 * Each action a rotation needs, by IAM's policy simulator for the admin principal on the user; where the simulator
 * cannot be used (no iam:SimulatePrincipalPolicy, or a server that does not implement it, such as moto), by a probe
 * that changes nothing: the call on a key or user that does not exist is answered NoSuchEntity when allowed.
 */
async function permissions(
  iam: IAMClient,
  target: TargetPlanOf<AwsIamConfig>,
  callerArn: string,
  userArn: string,
): Promise<PreflightCheck[]> {
  try {
    const out = await iam.send(
      new SimulatePrincipalPolicyCommand({
        PolicySourceArn: callerArn,
        ActionNames: ACTIONS.map((a) => a.action),
        ResourceArns: [userArn],
      }),
    );
    return ACTIONS.map(({ action, step }) => {
      const decision = out.EvaluationResults?.find((r) => r.EvalActionName === action)?.EvalDecision ?? 'unknown';
      return decision === 'allowed'
        ? { check: action, status: 'ok' as const, detail: `allowed on ${userArn} (policy simulator), for ${step}` }
        : {
            check: action,
            status: 'fail' as const,
            detail: `${decision} on ${userArn} (policy simulator); ${step} needs it`,
            fix: policyFix(action, userArn),
          };
    });
  } catch {
    // Fall through to the probes.
  }
  const probe = async (action: string, call: () => Promise<unknown>, how: string): Promise<PreflightCheck> => {
    const step = ACTIONS.find((a) => a.action === action)!.step;
    try {
      await call();
      return { check: action, status: 'warn', detail: `the probe (${how}) unexpectedly succeeded` };
    } catch (err) {
      const name = awsErrorName(err);
      if (name === 'NoSuchEntity' || name === 'NoSuchEntityException')
        return { check: action, status: 'ok', detail: `allowed (${how} answered NoSuchEntity), for ${step}` };
      if (DENIED.has(name))
        return { check: action, status: 'fail', detail: `denied (${how}); ${step} needs it`, fix: policyFix(action, userArn) };
      return { check: action, status: 'warn', detail: `could not be checked (${how}: ${name})` };
    }
  };
  const list = await iam
    .send(new ListAccessKeysCommand({ UserName: target.user }))
    .then((): PreflightCheck => ({ check: 'iam:ListAccessKeys', status: 'ok', detail: `allowed on ${userArn}` }))
    .catch((err: unknown): PreflightCheck =>
      DENIED.has(awsErrorName(err))
        ? {
            check: 'iam:ListAccessKeys',
            status: 'fail',
            detail: `denied on ${userArn}`,
            fix: policyFix('iam:ListAccessKeys', userArn),
          }
        : { check: 'iam:ListAccessKeys', status: 'warn', detail: `could not be checked: ${awsErrorName(err)}` },
    );
  const noUser = `rotator-preflight-${target.user}`.slice(0, 64);
  return [
    list,
    await probe(
      'iam:CreateAccessKey',
      () => iam.send(new CreateAccessKeyCommand({ UserName: noUser })),
      `CreateAccessKey for user ${noUser}, which does not exist; a policy limited to certain users shows here as denied: grant iam:SimulatePrincipalPolicy for an exact answer`,
    ),
    await probe(
      'iam:UpdateAccessKey',
      () => iam.send(new UpdateAccessKeyCommand({ UserName: target.user, AccessKeyId: NO_SUCH_KEY, Status: 'Inactive' })),
      `UpdateAccessKey of key ${NO_SUCH_KEY}, which does not exist`,
    ),
    await probe(
      'iam:DeleteAccessKey',
      () => iam.send(new DeleteAccessKeyCommand({ UserName: target.user, AccessKeyId: NO_SUCH_KEY })),
      `DeleteAccessKey of key ${NO_SUCH_KEY}, which does not exist`,
    ),
  ];
}
