// The rollout consumer's config and the L5 `on_rotation` form, and the rollout rules of `kubectl rollout status`.
import type * as k8s from '@kubernetes/client-node';
import { daemonSetRollout, deploymentRollout, statefulSetRollout } from '../activities/consumers/rollout/status';
import { restartAnnotationKey, templateUses } from '../activities/consumers/rollout/rollouts';
import { parseConfig } from '../src/config/load';
import { configError } from './support/config';

const ENV = { VAULT_ADDR: 'http://127.0.0.1:8200', VAULT_TOKEN: 'dev-token' };

const secretWith = (lines: string) => `
secrets:
  pg_admin: { provider: vault, path: secret/data/prod/pg-admin }
  orders_db:
    provider: vault
    path: secret/data/prod/orders-db
    target: { type: postgresql, connection: secret://pg_admin, role: orders_app }
${lines
  .split('\n')
  .map((l) => `    ${l}`)
  .join('\n')}
`;

describe('rollout consumer config', () => {
  it('fills defaults: one workload at a time, ten minutes per batch, the default namespace', () => {
    const config = parseConfig(
      secretWith(
        'rotation: { strategy: alternating-users }\nconsumers:\n  - type: rollout\n    workloads: [{ kind: Deployment, name: api }]',
      ),
      ENV,
    );
    expect(config.secrets.orders_db!.consumers[0]).toEqual({
      type: 'rollout',
      namespace: 'default',
      workloads: [{ kind: 'Deployment', name: 'api' }],
      max_parallel: 1,
      timeout: '10m',
    });
  });

  it.each([
    [
      'a kind that does not roll out',
      '[{ kind: Job, name: x }]',
      /consumers\.0\.workloads\.0\.kind: expected one of Deployment, StatefulSet, DaemonSet/,
    ],
    [
      'name and selector together',
      '[{ kind: Deployment, name: x, selector: { app: x } }]',
      /consumers\.0\.workloads\.0: give either name or selector/,
    ],
    ['neither name nor selector', '[{ kind: Deployment }]', /consumers\.0\.workloads\.0: give either name or selector/],
    [
      'an invalid object name',
      '[{ kind: Deployment, name: Api_1 }]',
      /consumers\.0\.workloads\.0\.name: expected a Kubernetes object name/,
    ],
    ['an empty list', '[]', /consumers\.0\.workloads: expected at least one workload/],
  ])('refuses %s, naming the field', (_what, workloads, message) => {
    const text = secretWith(
      `rotation: { strategy: alternating-users }\nconsumers:\n  - type: rollout\n    workloads: ${workloads}`,
    );
    expect(configError(text, ENV)).toMatch(message);
  });

  it('refuses max_parallel 0 and a timeout under a second', () => {
    const base =
      'rotation: { strategy: alternating-users }\nconsumers:\n  - type: rollout\n    workloads: [{ kind: Deployment, name: api }]';
    expect(configError(secretWith(`${base}\n    max_parallel: 0`), ENV)).toMatch(/consumers\.0\.max_parallel/);
    expect(configError(secretWith(`${base}\n    timeout: 500ms`), ENV)).toMatch(/consumers\.0\.timeout: expected at least 1s/);
  });
});

describe("the L5 spec's on_rotation", () => {
  it('restart becomes a rollout consumer and its grace period the rotation’s', () => {
    const config = parseConfig(
      secretWith(
        'rotation:\n  strategy: alternating-users\n  on_rotation:\n    action: restart\n    grace_period: 30s\n    workloads: [{ kind: StatefulSet, selector: { app: orders } }]',
      ),
      ENV,
    );
    const secret = config.secrets.orders_db!;
    expect(secret.rotation!.grace_period).toBe(30_000);
    expect(secret.consumers).toEqual([
      expect.objectContaining({ type: 'rollout', workloads: [{ kind: 'StatefulSet', selector: { app: 'orders' } }] }),
    ]);
  });

  it('an unknown action and a grace period given twice are refused, naming the field', () => {
    expect(configError(secretWith('rotation:\n  strategy: alternating-users\n  on_rotation: { action: reboot }'), ENV)).toMatch(
      /rotation\.on_rotation\.action: expected one of reconnect, restart, alert/,
    );
    expect(
      configError(
        secretWith(
          'rotation:\n  strategy: alternating-users\n  grace_period: 1m\n  on_rotation: { action: restart, grace_period: 30s, workloads: [{ kind: Deployment, name: a }] }',
        ),
        ENV,
      ),
    ).toMatch(/rotation\.on_rotation\.grace_period: set grace_period here or on rotation:, not both/);
  });
});

const deploymentAt = (generation: number, status: k8s.V1DeploymentStatus, replicas = 2): k8s.V1Deployment => ({
  metadata: { name: 'api', generation },
  spec: { replicas, selector: {}, template: {} },
  status,
});

describe('rollout status, by the rules of kubectl rollout status', () => {
  it('a Deployment waits for the new generation to be observed, for updated, old and available replicas', () => {
    expect(deploymentRollout(deploymentAt(3, { observedGeneration: 2 })).state).toBe('waiting');
    expect(deploymentRollout(deploymentAt(3, { observedGeneration: 3, updatedReplicas: 1, replicas: 2 })).message).toMatch(
      /1 of 2 new replicas/,
    );
    expect(deploymentRollout(deploymentAt(3, { observedGeneration: 3, updatedReplicas: 2, replicas: 3 })).message).toMatch(
      /1 old replicas pending/,
    );
    expect(
      deploymentRollout(deploymentAt(3, { observedGeneration: 3, updatedReplicas: 2, replicas: 2, availableReplicas: 1 }))
        .message,
    ).toMatch(/1 of 2 updated replicas available/);
    expect(
      deploymentRollout(deploymentAt(3, { observedGeneration: 3, updatedReplicas: 2, replicas: 2, availableReplicas: 2 })).state,
    ).toBe('done');
  });

  it('a Deployment past its progress deadline has failed', () => {
    const d = deploymentAt(3, {
      observedGeneration: 3,
      conditions: [{ type: 'Progressing', status: 'False', reason: 'ProgressDeadlineExceeded' }],
    });
    expect(deploymentRollout(d)).toEqual({ state: 'failed', message: 'deployment api exceeded its progress deadline' });
  });

  it('a StatefulSet waits for ready pods and the update revision, and refuses a partition (its pods would keep the old value) and OnDelete', () => {
    const sts = (status: Partial<k8s.V1StatefulSetStatus>, strategy?: k8s.V1StatefulSetUpdateStrategy): k8s.V1StatefulSet => ({
      metadata: { name: 'db', generation: 2 },
      spec: { replicas: 3, selector: {}, serviceName: 'db', template: {}, ...(strategy ? { updateStrategy: strategy } : {}) },
      status: { ...status, replicas: 3 },
    });
    expect(statefulSetRollout(sts({ observedGeneration: 2, readyReplicas: 2 })).state).toBe('waiting');
    expect(
      statefulSetRollout(sts({ observedGeneration: 2, readyReplicas: 3, currentRevision: 'a', updateRevision: 'b' })).state,
    ).toBe('waiting');
    expect(
      statefulSetRollout(sts({ observedGeneration: 2, readyReplicas: 3, currentRevision: 'b', updateRevision: 'b' })).state,
    ).toBe('done');
    expect(
      statefulSetRollout(
        sts(
          { observedGeneration: 2, readyReplicas: 3, updatedReplicas: 1 },
          { type: 'RollingUpdate', rollingUpdate: { partition: 2 } },
        ),
      ).state,
    ).toBe('failed');
    expect(statefulSetRollout(sts({ observedGeneration: 2 }, { type: 'OnDelete' })).state).toBe('failed');
  });

  it('a DaemonSet waits for updated and available pods on every node it runs on', () => {
    const ds = (status: Partial<k8s.V1DaemonSetStatus>): k8s.V1DaemonSet => ({
      metadata: { name: 'agent', generation: 4 },
      status: {
        currentNumberScheduled: 3,
        desiredNumberScheduled: 3,
        numberMisscheduled: 0,
        numberReady: 3,
        observedGeneration: 4,
        ...status,
      },
    });
    expect(daemonSetRollout(ds({ updatedNumberScheduled: 2 })).state).toBe('waiting');
    expect(daemonSetRollout(ds({ updatedNumberScheduled: 3, numberAvailable: 2 })).state).toBe('waiting');
    expect(daemonSetRollout(ds({ updatedNumberScheduled: 3, numberAvailable: 3 })).state).toBe('done');
  });
});

describe('finding the users of a Secret', () => {
  it('counts volumes, projected volumes, envFrom, secretKeyRef and image pull secrets', () => {
    const c = (extra: Partial<k8s.V1Container>): k8s.V1PodTemplateSpec => ({ spec: { containers: [{ name: 'x', ...extra }] } });
    expect(templateUses({ spec: { containers: [], volumes: [{ name: 'v', secret: { secretName: 's' } }] } }, 's')).toBe(true);
    expect(
      templateUses(
        { spec: { containers: [], volumes: [{ name: 'v', projected: { sources: [{ secret: { name: 's' } }] } }] } },
        's',
      ),
    ).toBe(true);
    expect(templateUses(c({ envFrom: [{ secretRef: { name: 's' } }] }), 's')).toBe(true);
    expect(templateUses(c({ env: [{ name: 'P', valueFrom: { secretKeyRef: { name: 's', key: 'password' } } }] }), 's')).toBe(
      true,
    );
    expect(templateUses({ spec: { containers: [], imagePullSecrets: [{ name: 's' }] } }, 's')).toBe(true);
    expect(templateUses(c({ envFrom: [{ secretRef: { name: 'other' } }] }), 's')).toBe(false);
  });

  it('keeps one restart annotation per secret, valid as an annotation key', () => {
    expect(restartAnnotationKey('orders_db')).toBe('secret.rotator.dev/orders_db');
    expect(restartAnnotationKey('orders.')).toBe('secret.rotator.dev/orders');
  });
});
