// The `aws-secrets-manager` store plugin: the AWSPENDING / AWSCURRENT / AWSPREVIOUS protocol of Secrets Manager.
import { z } from 'zod';
import { stalePending } from '../../../src/config/fields';
import type { StorePlugin } from '../../plugin';
import { awsL5 } from '../aws-l5';
import type { StoreCapabilities } from '../../types';
import { awsConnection, awsConnectionOf, bothKeysOrNeither } from '../aws-config';

export const schema = z
  .object({
    type: z.literal('aws-secrets-manager'),
    ...awsConnection,
    /** For Secrets Manager, "pending" is an AWSPENDING version that is not ours; replace takes the label off it. */
    stale_pending: stalePending,
    /**
     * Tag the secret with `rotator:last-rotated`, `rotator:rotated-by` and `rotator:rotation-enabled` after each
     * promote and rollback: Secrets Manager's own RotationEnabled and LastRotatedDate describe only its Lambda
     * rotation (see docs/stores.md, "What Secrets Manager shows"). Needs secretsmanager:TagResource and UntagResource.
     */
    rotation_tags: z.boolean().default(false),
  })
  .strict()
  .superRefine(bothKeysOrNeither);

/** UpdateSecretVersionStage only moves AWSCURRENT off the RemoveFromVersionId that still holds it: a check-and-set. */
export const CAPABILITIES: StoreCapabilities = { writable: true, versions: true, checkAndSet: true };

export const awsSecretsManager = {
  schema,
  secretFields: ['secret_access_key'],
  capabilities: CAPABILITIES,
  /** Secrets Manager's write quota: 50 requests per second per region (PutSecretValue, UpdateSecretVersionStage, …). */
  writeBudget: 50,
  system: 'AWS Secrets Manager',
  l5: awsL5({
    provider: 'aws_secrets_manager',
    location: 'secret_id',
    moves: { version_stage: 'version_stage', version_id: 'version_id' },
    read: {
      fields: {
        /** `version_stage` (AWSCURRENT, AWSPREVIOUS, a custom label) or `version_id`. */
        version_stage: z.string().min(1).optional(),
        version_id: z.string().min(1).optional(),
      },
      check(r, ctx) {
        if (r.version_stage && r.version_id)
          ctx.addIssue({ code: 'custom', path: ['version_id'], message: 'set version_stage or version_id, not both' });
      },
    },
  }),
  checkVersion: (version) =>
    version.length >= 32 && version.length <= 64
      ? null
      : 'expected a Secrets Manager version id (32 to 64 characters); staging labels are not served',
  async create(config) {
    const { AwsSecretsManagerStore } = await import('./store');
    return new AwsSecretsManagerStore({
      ...awsConnectionOf(config),
      stalePending: config.stale_pending,
      rotationTags: config.rotation_tags,
    });
  },
} satisfies StorePlugin<z.infer<typeof schema>>;
