// The `kubernetes` store plugin: a Secret per secret (current), `<name>-previous` beside it, `<name>-rotator-pending` as the claim.
import { z } from 'zod';
import { stalePending } from '../../../src/config/fields';
import { RotatorError } from '../../../src/kernel/errors';
import { connectionFields } from '../../kubernetes/connection';
import type { StorePlugin } from '../../plugin';
import { l5 } from './l5';
import type { StoreCapabilities } from '../../types';

/** DNS-1123 label: what a namespace may be called. */
const NAMESPACE = /^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$/;
/** DNS-1123 subdomain: what a Secret may be called (at most 253 characters in all). */
const SUBDOMAIN = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$/;
const MAX_NAME = 253;

/** The Secrets rotator keeps beside `<name>`: readers may mount the first, and no reader should mount the second. */
export const PREVIOUS_SUFFIX = '-previous';
export const PENDING_SUFFIX = '-rotator-pending';
const LONGEST_SUFFIX = Math.max(PREVIOUS_SUFFIX.length, PENDING_SUFFIX.length);

export const schema = z
  .object({
    type: z.literal('kubernetes'),
    ...connectionFields,
    /** Where a secret whose path names no namespace is kept. */
    namespace: z
      .string()
      .regex(NAMESPACE, { message: 'expected a Kubernetes namespace (lowercase letters, digits and -, at most 63)' })
      .default('default'),
    /** Take over existing Secrets that rotator did not create (they get rotator's managed-by label). */
    adopt: z.boolean().default(false),
    stale_pending: stalePending,
  })
  .strict();

export interface SecretLocation {
  namespace: string;
  name: string;
}

/** `<namespace>/<secret-name>` or `<secret-name>` (in `defaultNamespace`). */
export function parseSecretPath(path: string, defaultNamespace: string): SecretLocation {
  const parts = path.split('/');
  if (parts.length > 2) throw invalid(`expected <namespace>/<secret-name> or <secret-name>, got ${JSON.stringify(path)}`);
  const [namespace, name] = parts.length === 2 ? parts : [defaultNamespace, parts[0]];
  if (!NAMESPACE.test(namespace)) {
    throw invalid(
      `namespace ${JSON.stringify(namespace)} is not a Kubernetes namespace (lowercase letters, digits and -, at most 63)`,
    );
  }
  if (!SUBDOMAIN.test(name)) {
    throw invalid(`Secret name ${JSON.stringify(name)} is not a DNS-1123 subdomain (lowercase letters, digits, - and .)`);
  }
  if (name.length + LONGEST_SUFFIX > MAX_NAME) {
    throw invalid(
      `Secret name ${JSON.stringify(name)} is too long: rotator keeps ${name}${PENDING_SUFFIX} beside it, and names stop at ${MAX_NAME} characters (at most ${MAX_NAME - LONGEST_SUFFIX} here)`,
    );
  }
  for (const suffix of [PREVIOUS_SUFFIX, PENDING_SUFFIX]) {
    // Such a name is where rotator keeps another secret's previous or pending value: the two would overwrite each other.
    if (name.endsWith(suffix)) {
      throw invalid(
        `Secret name ${JSON.stringify(name)} ends in ${suffix}, the name rotator gives to a sibling of ${name.slice(0, -suffix.length)}`,
      );
    }
  }
  return { namespace, name };
}

function invalid(message: string): RotatorError {
  return new RotatorError('CONFIG_INVALID', message, 'path');
}

/**
 * `versions`: the rotation reads back only the version it replaced and the one it published (inspect re-run,
 * restore, revoke, rollback), and while its claim holds nobody else can publish; both are kept (`<name>-previous`
 * and `<name>`). A version two publishes back is gone: readVersion answers null for it.
 * `checkAndSet`: every replace carries the resourceVersion read just before.
 */
export const CAPABILITIES: StoreCapabilities = { writable: true, versions: true, checkAndSet: true };

export const kubernetes = {
  schema,
  capabilities: CAPABILITIES,
  l5,
  checkPath(path) {
    try {
      // The namespace is the provider's; any valid one stands in for it here.
      parseSecretPath(path, 'default');
      return null;
    } catch (err) {
      return (err as Error).message.replace(/^path: /, '');
    }
  },
  kubernetesSecret: (config, path) => ({
    ...parseSecretPath(path, config.namespace),
    connection: { kubeconfig: config.kubeconfig, context: config.context },
  }),
  preflight: async (config, path) => (await import('./preflight')).preflight(config, path),
  async create(config) {
    const { KubernetesStore } = await import('./store');
    const { KubeClients, kubeConfigFor } = await import('../../kubernetes/client');
    return new KubernetesStore({
      clients: new KubeClients(kubeConfigFor({ kubeconfig: config.kubeconfig, context: config.context })),
      namespace: config.namespace,
      adopt: config.adopt,
      stalePending: config.stale_pending,
    });
  },
} satisfies StorePlugin<z.infer<typeof schema>>;
