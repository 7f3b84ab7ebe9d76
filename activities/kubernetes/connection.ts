// How a config block says where a Kubernetes API server is: zod only, so plugin modules that use it stay light.
import { z } from 'zod';

/**
 * Where the API server is and who rotator is there. Without a kubeconfig, what kubectl would use: $KUBECONFIG, else
 * ~/.kube/config, else the pod's service account when the worker runs in a cluster.
 */
export const connectionFields = {
  kubeconfig: z.string().min(1).optional(),
  /** A context of that kubeconfig; default: its current-context. */
  context: z.string().min(1).optional(),
};

export interface KubeConnection {
  kubeconfig?: string;
  context?: string;
}
