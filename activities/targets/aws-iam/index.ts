// The `aws-iam` target plugin: an IAM user's access keys. A user holds at most two, which makes a native dual
// credential: the rotation creates the second, and after the grace period deactivates, then deletes, the old one.
import { z } from 'zod';
import { httpUrl, parseDuration, secretRef, writtenDuration } from '../../../src/config/fields';
import { DURATION } from '../../../src/kernel/duration';
import type { IssuingTargetPlugin } from '../../plugin';
import type { TargetCapabilities } from '../../types';

const awsRegion = z
  .string()
  .regex(/^[a-z]{2}(-gov)?-[a-z]+-\d$/, { message: 'expected an AWS region like eu-west-1 or us-gov-west-1' });

/** IAM's own rule for user names. */
const iamUser = z
  .string()
  .regex(/^[\w+=,.@-]{1,64}$/, { message: 'expected an IAM user name (letters, digits, + = , . @ _ -; at most 64)' });

export const schema = z
  .object({
    type: z.literal('aws-iam'),
    /** The admin credential that manages the user's keys: a secret holding AccessKeyId and SecretAccessKey (and SessionToken, if temporary). */
    connection: secretRef,
    /** The IAM user whose access keys are rotated. */
    user: iamUser,
    region: awsRegion.default('us-east-1'),
    /** IAM and STS at another address (a VPC endpoint, or moto in tests); AWS's own otherwise. */
    endpoint: httpUrl.optional(),
    /**
     * The user already holds two keys (IAM's limit), neither the stored one's successor: `refuse` (default) stops with
     * the reason; `delete-inactive` deletes the one that is not stored, only when it is Inactive.
     */
    when_full: z.enum(['refuse', 'delete-inactive']).default('refuse'),
    /**
     * How long verify keeps trying a new key that AWS does not accept yet (IAM is eventually consistent: a new key may
     * be refused for some seconds). Bounded by the verify step's 30 s.
     */
    verify_timeout: writtenDuration('1s')
      .refine((d) => !DURATION.test(d) || parseDuration(d) <= 20_000, { message: 'expected at most 20s' })
      .default('15s'),
  })
  .strict();

export type AwsIamConfig = z.infer<typeof schema>;

/** Neither flag applies: an access key is not a login with passwords or sessions. */
export const CAPABILITIES: TargetCapabilities = { dualPassword: false, sessionsPerLogin: false };

export const awsIam = {
  schema,
  issues: true,
  capabilities: CAPABILITIES,
  strategies: ['issued'],
  defaultVerify: 'sts:GetCallerIdentity',
  login: (config) => config.user,
  preflight: async (target, context) => (await import('./preflight')).preflight(target, context.admin),
  async create(target, admin) {
    const { IamTarget } = await import('./target');
    return new IamTarget(target, admin);
  },
} satisfies IssuingTargetPlugin<z.infer<typeof schema>>;
