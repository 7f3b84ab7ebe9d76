// The `rollout` consumer plugin: restart the Kubernetes workloads that use a secret, in batches, waiting for each.
import { z } from 'zod';
import { writtenDuration } from '../../../src/config/fields';
import { DURATION, parseDuration } from '../../../src/kernel/duration';
import { connectionFields } from '../../kubernetes/connection';
import type { ConsumerPlugin } from '../../plugin';

/** DNS-1123 label: what a namespace or a workload may be called. */
const objectName = z
  .string()
  .regex(/^[a-z0-9]([-a-z0-9.]{0,251}[a-z0-9])?$/, { message: 'expected a Kubernetes object name (lowercase, digits, - and .)' });

/** DNS-1123 label: what a namespace may be called (no dots, at most 63). */
const namespaceName = z.string().regex(/^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$/, {
  message: 'expected a Kubernetes namespace (lowercase letters, digits and -, at most 63)',
});

const labelKey = /^([a-z0-9]([-a-z0-9.]*[a-z0-9])?\/)?[A-Za-z0-9]([-A-Za-z0-9_.]{0,61}[A-Za-z0-9])?$/;
const labelValue = /^(([A-Za-z0-9][-A-Za-z0-9_.]{0,61})?[A-Za-z0-9])?$/;

export const WORKLOAD_KINDS = ['Deployment', 'StatefulSet', 'DaemonSet'] as const;

const workload = z
  .object({
    kind: z.enum(WORKLOAD_KINDS, { message: `expected one of ${WORKLOAD_KINDS.join(', ')}` }),
    /** One workload by name, or every workload of this kind whose labels match `selector`. */
    name: objectName.optional(),
    selector: z
      .record(
        z.string().regex(labelKey, { message: 'expected a label key' }),
        z.string().regex(labelValue, { message: 'expected a label value' }),
      )
      .refine((s) => Object.keys(s).length > 0, { message: 'expected at least one label' })
      .optional(),
    /** Default: the consumer's namespace. */
    namespace: namespaceName.optional(),
  })
  .strict()
  .refine((w) => (w.name === undefined) !== (w.selector === undefined), {
    message: 'give either name or selector, not both',
  });

export const schema = z
  .object({
    type: z.literal('rollout'),
    ...connectionFields,
    namespace: namespaceName.default('default'),
    /** Restarted in this order; a selector's matches in name order. */
    workloads: z.array(workload).min(1, { message: 'expected at least one workload' }),
    /** How many workloads restart at once; the next batch starts when all of this one rolled out. */
    max_parallel: z.number().int().min(1).max(100).default(1),
    /** How long one batch may take to roll out before the rotation gives up and rolls back. */
    timeout: writtenDuration('1s').default('10m'),
    /**
     * Gather restarts of the same workload asked by other rotations for this long, then restart it once for all of
     * them (docs/consumers.md#one-restart-for-several-secrets). Absent: each rotation restarts on its own.
     */
    coalesce: writtenDuration('1ms')
      .refine((d) => !DURATION.test(d) || parseDuration(d) <= 600_000, { message: 'expected at most 10m' })
      .optional(),
  })
  .strict();

export type RolloutConfig = z.infer<typeof schema>;
export type WorkloadConfig = RolloutConfig['workloads'][number];

export const rollout = {
  schema,
  l5Action: 'restart',
  rollsOut: true,
  system: 'kubernetes API server',
  preflight: async (config) => (await import('./preflight')).preflight(config),
  async create(config) {
    const { Rollouts } = await import('./rollouts');
    return new Rollouts(config);
  },
} satisfies ConsumerPlugin<RolloutConfig>;
