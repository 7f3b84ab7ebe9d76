// The config fields both AWS store plugins share: region, endpoint, optional static keys, a role to assume.
import { z } from 'zod';
import { httpUrl } from '../../src/config/fields';
import type { AwsConnectionOptions } from './aws-common';

/** Checked here so a typo fails at load time, not as a DNS error in the middle of a rotation. */
const awsRegion = z
  .string()
  .regex(/^[a-z]{2}(-gov)?-[a-z]+-\d$/, { message: 'expected an AWS region like eu-west-1 or us-gov-west-1' });

/** Static keys are optional: without them the SDK's default chain (environment, profile, SSO, instance role) applies. */
export const awsConnection = {
  region: awsRegion,
  endpoint: httpUrl.optional(),
  access_key_id: z.string().min(1).optional(),
  secret_access_key: z.string().min(1).optional(),
  /**
   * The L5 spec's `auth: { type: assume_role, role_arn }`: a role to assume through STS (at `endpoint` too, when set)
   * with the credentials above, or with the default chain's; the SDK assumes it again before the credentials expire.
   */
  role_arn: z
    .string()
    .regex(/^arn:aws[a-z-]*:iam::\d{12}:role\/[\w+=,.@/-]+$/, {
      message: 'expected an IAM role ARN like arn:aws:iam::123456789012:role/secret-reader',
    })
    .optional(),
};

export function bothKeysOrNeither(p: { access_key_id?: string; secret_access_key?: string }, ctx: z.RefinementCtx): void {
  if (!!p.access_key_id !== !!p.secret_access_key) {
    ctx.addIssue({
      code: 'custom',
      path: [p.access_key_id ? 'secret_access_key' : 'access_key_id'],
      message: 'set access_key_id and secret_access_key together, or neither to use the AWS credential chain',
    });
  }
}

export function awsConnectionOf(config: {
  region: string;
  endpoint?: string;
  access_key_id?: string;
  secret_access_key?: string;
  role_arn?: string;
}): AwsConnectionOptions {
  return {
    region: config.region,
    ...(config.endpoint ? { endpoint: config.endpoint } : {}),
    ...(config.access_key_id ? { accessKeyId: config.access_key_id } : {}),
    ...(config.secret_access_key ? { secretAccessKey: config.secret_access_key } : {}),
    ...(config.role_arn ? { roleArn: config.role_arn } : {}),
  };
}
