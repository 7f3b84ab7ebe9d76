// One way to reach a Kubernetes API server (store and rollout consumer alike), and its errors in rotator's words.
import type * as k8s from '@kubernetes/client-node';
import { RotatorError, type ErrorCode } from '../../src/kernel/errors';
import type { KubeConnection } from './connection';
import { REQUEST_TIMEOUT_MS, seconds } from '../timeouts';

export { connectionFields, type KubeConnection } from './connection';

let library: typeof k8s | undefined;

/**
 * The client library, loaded on first use. Loading it takes about a second of CPU, and a worker whose config has no
 * Kubernetes store or rollout consumer never needs it.
 */
function kubeLibrary(): typeof k8s {
  // eslint-disable-next-line @typescript-eslint/no-require-imports -- a synchronous load on first use
  return (library ??= require('@kubernetes/client-node') as typeof k8s);
}

export function kubeConfigFor(conn: KubeConnection): k8s.KubeConfig {
  const kc = new (kubeLibrary().KubeConfig)();
  try {
    if (conn.kubeconfig) kc.loadFromFile(conn.kubeconfig);
    else kc.loadFromDefault();
    if (conn.context) kc.setCurrentContext(conn.context);
  } catch (err) {
    throw new RotatorError('CONFIG_INVALID', `cannot load the kubeconfig: ${errorMessage(err)}`, 'kubeconfig');
  }
  if (conn.context && !kc.getContextObject(conn.context)) {
    throw new RotatorError('CONFIG_INVALID', `the kubeconfig has no context ${JSON.stringify(conn.context)}`, 'context');
  }
  if (!kc.getCurrentCluster()) {
    throw new RotatorError('CONFIG_INVALID', 'the kubeconfig names no cluster for its current context', 'kubeconfig');
  }
  return kc;
}

/** One API client of each kind per connection. */
export class KubeClients {
  readonly core: k8s.CoreV1Api;
  readonly apps: k8s.AppsV1Api;
  readonly server: string;

  constructor(readonly config: k8s.KubeConfig) {
    // Every API call ends after REQUEST_TIMEOUT_MS (below the step's timeout): the client has no timeout of its own,
    // and a call to an API server that stopped answering must not run on beside the step's retry.
    const authenticate = config.applySecurityAuthentication.bind(config);
    config.applySecurityAuthentication = async (context) => {
      await authenticate(context);
      context.setSignal(AbortSignal.timeout(REQUEST_TIMEOUT_MS));
    };
    const { CoreV1Api, AppsV1Api } = kubeLibrary();
    this.core = config.makeApiClient(CoreV1Api);
    this.apps = config.makeApiClient(AppsV1Api);
    this.server = config.getCurrentCluster()?.server ?? '(unknown server)';
  }
}

/** A strategic-merge patch (what `kubectl patch` sends), for apps objects. */
export function strategicMerge(): ReturnType<typeof k8s.setHeaderOptions> {
  const { setHeaderOptions, PatchStrategy } = kubeLibrary();
  return setHeaderOptions('Content-Type', PatchStrategy.StrategicMergePatch);
}

/** The HTTP status of a failed call, or null for a network error. */
export function statusOf(err: unknown): number | null {
  const code = (err as { code?: unknown } | null)?.code;
  return typeof code === 'number' ? code : null;
}

interface StatusBody {
  message?: string;
  reason?: string;
}

function statusBody(err: unknown): StatusBody {
  const body = (err as { body?: unknown } | null)?.body;
  if (typeof body === 'string') {
    try {
      return JSON.parse(body) as StatusBody;
    } catch {
      return {};
    }
  }
  return body && typeof body === 'object' ? (body as StatusBody) : {};
}

/**
 * A failed API call as a RotatorError. The server's own Status message names what was refused (for a 403: user,
 * verb, resource and namespace), and never carries Secret data; the client library's message, which embeds the whole
 * response, is not used.
 */
export function kubeError(err: unknown, doing: string): RotatorError {
  if (err instanceof RotatorError) return err;
  const status = statusOf(err);
  const said = statusBody(err).message;
  const code: ErrorCode =
    status === 401 || status === 403
      ? 'PERMISSION_DENIED'
      : status === 404
        ? 'NOT_FOUND'
        : status === 409
          ? 'CONFLICT'
          : status === 400 || status === 422
            ? 'CONFIG_INVALID'
            : 'TRANSIENT';
  const detail =
    status === null
      ? isTimeout(err)
        ? `the API server did not answer within ${seconds(REQUEST_TIMEOUT_MS)}`
        : `cannot reach the API server: ${errorMessage(err)}`
      : status === 401
        ? 'the API server did not accept rotator’s credentials (HTTP 401)'
        : `HTTP ${status}${said ? `: ${said}` : ''}`;
  return new RotatorError(code, `kubernetes: ${doing}: ${detail}`);
}

/** Runs one API call, turning its failure into a RotatorError that says what was being done. */
export async function kube<T>(doing: string, call: () => Promise<T>): Promise<T> {
  try {
    return await call();
  } catch (err) {
    throw kubeError(err, doing);
  }
}

function isTimeout(err: unknown): boolean {
  for (let e = err as { name?: unknown; cause?: unknown } | null; e; e = e.cause as typeof e)
    if (e.name === 'TimeoutError') return true;
  return false;
}

function errorMessage(err: unknown): string {
  const m = (err as { message?: unknown } | null)?.message;
  // Network errors from node-fetch carry the URL and the syscall; cut the rest.
  return typeof m === 'string' ? m.split('\n')[0].slice(0, 300) : String(err);
}
