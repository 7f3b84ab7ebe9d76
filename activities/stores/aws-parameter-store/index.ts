// The `aws-parameter-store` store plugin: SecureString parameters with `current` / `previous` labels.
import { z } from 'zod';
import { stalePending } from '../../../src/config/fields';
import type { StorePlugin } from '../../plugin';
import { awsL5 } from '../aws-l5';
import type { StoreCapabilities } from '../../types';
import { awsConnection, awsConnectionOf, bothKeysOrNeither } from '../aws-config';

export const schema = z
  .object({
    type: z.literal('aws-parameter-store'),
    ...awsConnection,
    kms_key_id: z.string().min(1).optional(),
    stale_pending: stalePending,
  })
  .strict()
  .superRefine(bothKeysOrNeither);

/** PutParameter has no condition on the version it replaces: the store checks, then writes, with a window in between. */
export const CAPABILITIES: StoreCapabilities = { writable: true, versions: true, checkAndSet: false };

export const awsParameterStore = {
  schema,
  secretFields: ['secret_access_key'],
  capabilities: CAPABILITIES,
  system: 'AWS Systems Manager Parameter Store',
  l5: awsL5({
    provider: 'aws_parameter_store',
    location: 'name',
    moves: { with_decryption: 'with_decryption', type: 'parameter_type' },
    read: {
      /** `with_decryption` and the parameter's `type` (rotator writes SecureString parameters). */
      fields: {
        with_decryption: z.boolean().optional(),
        parameter_type: z.enum(['String', 'StringList', 'SecureString']).optional(),
      },
    },
  }),
  checkVersion: (version) =>
    /^[1-9]\d{0,15}$/.test(version) ? null : 'expected a positive whole number (parameter versions count from 1)',
  async create(config) {
    const { AwsParameterStore } = await import('./store');
    return new AwsParameterStore({
      ...awsConnectionOf(config),
      stalePending: config.stale_pending,
      ...(config.kms_key_id ? { kmsKeyId: config.kms_key_id } : {}),
    });
  },
} satisfies StorePlugin<z.infer<typeof schema>>;
