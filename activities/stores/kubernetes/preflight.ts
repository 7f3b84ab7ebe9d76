// `rotator plan` for the kubernetes store: may rotator's identity get, create, update and delete the Secrets it keeps
// (`<name>`, `<name>-previous`, `<name>-rotator-pending`)? Asked with SelfSubjectAccessReviews, so nothing changes.
import type { z } from 'zod';
import { RotatorError } from '../../../src/kernel/errors';
import { KubeClients, kubeConfigFor } from '../../kubernetes/client';
import { accessCheck, type Access } from '../../kubernetes/preflight';
import type { PreflightCheck } from '../../plugin';
import { parseSecretPath, PENDING_SUFFIX, PREVIOUS_SUFFIX, type schema } from './index';

type KubernetesProvider = z.infer<typeof schema>;

export async function preflight(config: KubernetesProvider, path: string): Promise<PreflightCheck[]> {
  const check = `store: may write Secret ${path}`;
  try {
    const { namespace, name } = parseSecretPath(path, config.namespace);
    const clients = new KubeClients(kubeConfigFor({ kubeconfig: config.kubeconfig, context: config.context }));
    const secret = (verb: string, n?: string): Access => ({
      verb,
      group: '',
      resource: 'secrets',
      namespace,
      ...(n ? { name: n } : {}),
    });
    const names = [name, `${name}${PREVIOUS_SUFFIX}`, `${name}${PENDING_SUFFIX}`];
    // `create` is checked without a name: Kubernetes authorizes it before the object has one.
    const wanted = [secret('create'), ...names.flatMap((n) => ['get', 'update', 'delete'].map((verb) => secret(verb, n)))];
    return [await accessCheck(clients, `${check} (${namespace}/${name})`, wanted)];
  } catch (err) {
    const message = err instanceof RotatorError ? err.message : String(err);
    return [{ check, status: 'fail', detail: message, fix: 'check the provider’s kubeconfig and context' }];
  }
}
