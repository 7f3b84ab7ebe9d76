// A coordinator's wait for its coalesced rollout rides out an API server that stops answering, for the rotation's
// outage tolerance, as a rotation's own rollout wait does (both are awaitRolledOut). The real kube-apiserver sits
// behind a Toxiproxy proxy; the Deployment controller is the stand-in of test/support/deployment-controller.ts (no
// controller manager runs here). The activity runs in @temporalio/testing's activity environment, which gives it a
// context and records its heartbeats (no server is stood in for).
import { MockActivityEnvironment } from '@temporalio/testing';
import { readFileSync, writeFileSync } from 'node:fs';
import { createCoalesceActivities } from '../activities/consumers/rollout/public';
import { strategicMerge } from '../activities/kubernetes/client';
import type { WorkloadRef } from '../activities/types';
import { DeploymentController } from './support/deployment-controller';
import { unique } from './support/harness';
import { adminClients, deployment, kubeconfigFile, namespaceFor } from './support/kube';
import { testStack } from './support/stack';
import { startToxiproxy, type Proxy, type Toxiproxy } from './support/toxiproxy';

let toxiproxy: Toxiproxy;
let proxy: Proxy;
let namespace: string;
let controller: DeploymentController;
let kubeconfig: string;
let workload: WorkloadRef;

beforeAll(async () => {
  toxiproxy = await startToxiproxy();
  const api = new URL(testStack().kubernetes!.server);
  proxy = await toxiproxy.proxy(unique('rollout-wait'), { host: api.hostname, port: Number(api.port) });
  namespace = await namespaceFor('rotator');
  workload = { kind: 'Deployment', name: 'api', namespace };
  await adminClients().apps.createNamespacedDeployment({ namespace, body: deployment('api', 'orders-db') });
  controller = await new DeploymentController(namespace).start();
  await controller.until((r) => r.some((x) => x.outcome === 'complete'), 'the first rollout of api');
  // The documented rotator user's kubeconfig, its server the proxy (the API server's certificate covers 127.0.0.1).
  const direct = kubeconfigFile('rotator');
  kubeconfig = `${direct}-${proxy.port}`;
  const config = JSON.parse(readFileSync(direct, 'utf8')) as { clusters: Array<{ cluster: { server: string } }> };
  config.clusters[0]!.cluster.server = `https://${proxy.address}`;
  writeFileSync(kubeconfig, JSON.stringify(config), { mode: 0o600 });
});
afterAll(async () => {
  controller?.stop();
  await adminClients()
    .core.deleteNamespace({ name: namespace })
    .catch(() => undefined);
  await toxiproxy?.stop();
});

const consumer = () => ({
  type: 'rollout',
  kubeconfig,
  namespace,
  workloads: [{ kind: 'Deployment', name: 'api' }],
  timeout: '60s',
});

/** Restarts api through the proxy, then takes the proxy down: the wait's first reads find no API server. */
async function restartThenDown(): Promise<number> {
  const { restartTogether } = createCoalesceActivities();
  await new MockActivityEnvironment().run(restartTogether, {
    consumer: consumer(),
    workload,
    versions: { [unique('secret')]: unique('v') },
  });
  const startedAt = Date.now();
  await proxy.setEnabled(false);
  return startedAt;
}

describe("a coalesced rollout's wait", () => {
  it('waits through an API server that stops answering, and ends once it answers and the rollout is done', async () => {
    const startedAt = await restartThenDown();
    const env = new MockActivityEnvironment();
    const beats: unknown[] = [];
    // Back up once the wait has reported the outage (its start travels in the heartbeat): no guessing at a delay.
    env.on('heartbeat', (details: { outageSince?: number }) => {
      beats.push(details);
      if (details?.outageSince !== undefined) void proxy.setEnabled(true);
    });
    const { awaitWorkloadRollout } = createCoalesceActivities();
    await expect(
      env.run(awaitWorkloadRollout, { consumer: consumer(), workload, startedAt, timeoutMs: 60_000, toleranceMs: 30_000 }),
    ).resolves.toBeUndefined();
    expect(beats.some((b) => typeof (b as { outageSince?: number }).outageSince === 'number')).toBe(true);
    expect(controller.rolloutsOf('api').at(-1)?.outcome).toBe('complete');
  }, 90_000);

  it('fails naming the API server and the tolerance once the outage outlasts it', async () => {
    const startedAt = await restartThenDown();
    try {
      const { awaitWorkloadRollout } = createCoalesceActivities();
      const failed = await new MockActivityEnvironment()
        .run(awaitWorkloadRollout, { consumer: consumer(), workload, startedAt, timeoutMs: 60_000, toleranceMs: 2_000 })
        .then(
          () => null,
          (err: Error) => err,
        );
      expect(failed?.message).toMatch(/^kubernetes: .*cannot reach the API server/);
      expect(failed?.message).toMatch(/\(no answer for [\d.]+s, past the rotation's outage tolerance of 2s\)$/);
    } finally {
      await proxy.setEnabled(true);
    }
  }, 90_000);
});

describe('the Deployment controller stand-in', () => {
  // The release comes before the stand-in has written the rollout's in-progress status, as it can when a test releases
  // right after seeing the rollout start: a stand-in that stalled anyway would hold the rollout until its timeout.
  it('completes a stalled rollout released as soon as it is seen', async () => {
    const api = <R extends { deployment: string }>(r: R[]) => r.filter((x) => x.deployment === 'api');
    const seen = controller.rolloutsOf('api').length;
    controller.set('api', 'stall');
    const body = { spec: { template: { metadata: { annotations: { 'test.rotator.dev/restart': unique('r') } } } } };
    await adminClients().apps.patchNamespacedDeployment({ name: 'api', namespace, body }, strategicMerge());
    await controller.until((r) => api(r).length > seen, 'the restart', { deadlineMs: 20_000 });
    controller.release('api');
    await controller.until((r) => api(r).length > seen && api(r).at(-1)?.outcome === 'complete', 'the released rollout', {
      deadlineMs: 30_000,
    });
  }, 60_000);
});
