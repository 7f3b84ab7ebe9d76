// `kubectl apply --server-side [--dry-run=server]` on the stack's real kube-apiserver, for rendered manifests: the
// object exactly as rendered (the client's typed calls would drop a field their model lacks before the server could
// refuse it), strict field validation, forced ownership. For the manifests' and the Helm chart's tests.
import * as https from 'node:https';
import * as k8s from '@kubernetes/client-node';

/** What the API server answered to a refused request: its status and message. */
export class Refused extends Error {
  constructor(
    readonly code: number,
    message: string,
  ) {
    super(message);
  }
}

/** Only for its discovery of where an object lives. */
class ObjectPaths extends k8s.KubernetesObjectApi {
  of(object: k8s.KubernetesObject): Promise<string> {
    return this.specUriPath(structuredClone(object), 'patch');
  }
}

export function serverSideApplier(kc: k8s.KubeConfig, fieldManager: string) {
  const paths = kc.makeApiClient(ObjectPaths);
  return async function serverSideApply<T extends k8s.KubernetesObject>(object: T, { dryRun }: { dryRun: boolean }): Promise<T> {
    const url = new URL(`${kc.getCurrentCluster()!.server}${await paths.of(object)}`);
    url.searchParams.set('fieldManager', fieldManager);
    url.searchParams.set('force', 'true');
    url.searchParams.set('fieldValidation', 'Strict');
    if (dryRun) url.searchParams.set('dryRun', 'All');
    const options: https.RequestOptions = {
      method: 'PATCH',
      headers: { 'Content-Type': 'application/apply-patch+yaml', Accept: 'application/json' },
    };
    await kc.applyToHTTPSOptions(options);
    const { status, body } = await new Promise<{ status: number; body: string }>((resolve, reject) => {
      const req = https.request(url, options, (res) => {
        let text = '';
        res.setEncoding('utf8');
        res.on('data', (c: string) => (text += c));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, body: text }));
      });
      req.once('error', reject);
      req.end(JSON.stringify(object));
    });
    const answer = JSON.parse(body) as T & { message?: string };
    if (status >= 300) throw new Refused(status, answer.message ?? body);
    return answer;
  };
}

/** The API server's answer to a request it refused: its status code and message. */
export async function refusal(p: Promise<unknown>): Promise<{ code: number; message: string }> {
  try {
    await p;
  } catch (err) {
    if (err instanceof Refused) return { code: err.code, message: err.message };
    if (!(err instanceof k8s.ApiException)) throw err;
    const body =
      typeof err.body === 'string' ? (JSON.parse(err.body) as { message?: string }) : (err.body as { message?: string });
    return { code: err.code, message: body?.message ?? String(err.body) };
  }
  throw new Error('expected the API server to refuse the request');
}
