// The Helm chart in deploy/helm/rotator, with the Helm v4 that scripts/build-helm.sh builds: `helm lint`, `helm
// template` with and without the optional components, every rendered object through a server-side dry run with strict
// field validation on the stack's real kube-apiserver, the pods under Pod Security "restricted", and values the chart
// or the API server must refuse.
import { randomBytes } from 'node:crypto';
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import * as k8s from '@kubernetes/client-node';
import { parseAllDocuments, stringify } from 'yaml';
import { parseConfig } from '../src/config/load';
import { REPO_ROOT } from '../src/stack/local-stack';
import { documentedRole, kubeConfigAs } from './support/kube';
import { refusal, serverSideApplier } from './support/server-side-apply';

/** The version scripts/build-helm.sh builds by default. */
const HELM_VERSION = 'v4.3.2';
const CHART = path.join(REPO_ROOT, 'deploy', 'helm', 'rotator');
const NAMESPACE = `helm-${randomBytes(3).toString('hex')}`;
const OTHER_NAMESPACE = `${NAMESPACE}-apps`;
const RELEASE = 'rotator';

const kc = kubeConfigAs('admin');
const core = kc.makeApiClient(k8s.CoreV1Api);
const apply = serverSideApplier(kc, 'rotator-helm-chart-test');
const dryRun = <T extends k8s.KubernetesObject>(object: T) => apply(object, { dryRun: true });

type Obj = k8s.KubernetesObject & Record<string, unknown>;

function helmBinary(): string {
  const p = path.join(REPO_ROOT, '.tools', 'helm', HELM_VERSION, 'helm');
  if (!fs.existsSync(p)) throw new Error(`${p} is missing: run npm run bootstrap -- --services test-tools (builds Helm with Go)`);
  return p;
}

// Helm keeps its caches and config in folders of its own, never the user's.
const helmHome = fs.mkdtempSync(path.join(os.tmpdir(), 'rotator-helm-'));
function helm(...args: string[]): { code: number | null; out: string; err: string } {
  const r = spawnSync(helmBinary(), args, {
    encoding: 'utf8',
    env: {
      PATH: process.env.PATH,
      HOME: helmHome,
      HELM_CACHE_HOME: path.join(helmHome, 'cache'),
      HELM_CONFIG_HOME: path.join(helmHome, 'config'),
      HELM_DATA_HOME: path.join(helmHome, 'data'),
    },
  });
  if (r.error) throw r.error;
  return { code: r.status, out: r.stdout, err: r.stderr };
}

function valuesFile(values: object): string {
  const file = path.join(fs.mkdtempSync(path.join(helmHome, 'values-')), 'values.yaml');
  fs.writeFileSync(file, stringify(values));
  return file;
}

/** `helm template` with `values` (a values file) and extra flags; fails the test when Helm refuses. */
function render(values: object = {}, ...flags: string[]): Obj[] {
  const r = helm('template', RELEASE, CHART, '--namespace', NAMESPACE, '-f', valuesFile(values), ...flags);
  if (r.code !== 0) throw new Error(`helm template failed (${r.code}): ${r.err}`);
  return parseAllDocuments(r.out)
    .map((doc) => {
      if (doc.errors.length > 0) throw new Error(doc.errors[0].message);
      return doc.toJS() as Obj | null;
    })
    .filter((o): o is Obj => o !== null);
}

const ALL = { listener: { enabled: true }, codecServer: { enabled: true } };
/** A config the listener can serve: a secret with a target, and a webhook source whose key comes from rotator-env. */
const LISTENER_CONFIG = {
  config: {
    rotator: {
      providers: { k8s: { type: 'kubernetes', namespace: NAMESPACE } },
      secrets: {
        orders_db_admin: { provider: 'k8s', path: 'orders-db-admin' },
        orders_db: {
          provider: 'k8s',
          path: 'orders-db',
          target: { type: 'postgresql', connection: 'secret://orders_db_admin', role: 'orders_app' },
          rotation: { strategy: 'alternating-users', grace_period: '1h', verify: { query: 'select 1' } },
        },
      },
      triggers: {
        sources: { ci: { type: 'webhook', signing_key: '${CI_WEBHOOK_KEY}' } },
        rules: [{ source: 'ci', secret: 'orders_db', action: 'rotate-if-due' }],
      },
    },
  },
};

const id = (o: Obj) => `${o.kind}/${o.metadata?.namespace ?? ''}/${o.metadata?.name}`;
const deploymentsOf = (objects: Obj[]) => objects.filter((o) => o.kind === 'Deployment') as unknown as k8s.V1Deployment[];
const one = <T>(objects: Obj[], kind: string, name: string): T => {
  const found = objects.filter((o) => o.kind === kind && o.metadata?.name === name);
  if (found.length !== 1) throw new Error(`expected one ${kind} ${name}, found ${found.length}`);
  return found[0] as unknown as T;
};

function podOf(deployment: k8s.V1Deployment): k8s.V1Pod {
  return {
    apiVersion: 'v1',
    kind: 'Pod',
    metadata: {
      name: `${deployment.metadata!.name}-${randomBytes(3).toString('hex')}`,
      namespace: deployment.metadata!.namespace,
      labels: deployment.spec!.template.metadata?.labels,
    },
    spec: deployment.spec!.template.spec,
  };
}

// The namespaces exist for real, with Pod Security "restricted" enforced as docs/deployment-helm.md says to label it,
// and so do the ServiceAccounts: a pod naming a missing one is refused. No namespace controller: they stay Terminating.
beforeAll(async () => {
  helmBinary();
  const labels = { 'pod-security.kubernetes.io/enforce': 'restricted', 'pod-security.kubernetes.io/enforce-version': 'latest' };
  await core.createNamespace({ body: { metadata: { name: NAMESPACE, labels } } });
  await core.createNamespace({ body: { metadata: { name: OTHER_NAMESPACE } } });
  for (const o of render({ ...ALL, ...LISTENER_CONFIG })) if (o.kind === 'ServiceAccount') await apply(o, { dryRun: false });
});
afterAll(async () => {
  for (const name of [NAMESPACE, OTHER_NAMESPACE]) await core.deleteNamespace({ name }).catch(() => undefined);
  fs.rmSync(helmHome, { recursive: true, force: true });
});

describe(`deploy/helm/rotator with Helm ${HELM_VERSION}`, () => {
  it('is the Helm the bootstrap built', () => {
    const r = helm('version', '--template', '{{.Version}}');
    expect(r).toEqual({ code: 0, out: HELM_VERSION, err: '' });
  });

  it('passes helm lint --strict, with the defaults and with every component on', () => {
    for (const values of [{}, { ...ALL, ...LISTENER_CONFIG }]) {
      const r = helm('lint', CHART, '--strict', '--namespace', NAMESPACE, '-f', valuesFile(values));
      expect({ code: r.code, err: r.err }).toEqual({ code: 0, err: '' });
      expect(r.out).toContain('1 chart(s) linted, 0 chart(s) failed');
      expect(r.out).not.toMatch(/\[(WARNING|ERROR)\]/);
    }
  });

  it('renders the worker alone by default, and the listener and codec server when asked', () => {
    const base = render();
    expect(base.map(id).sort()).toEqual(
      [
        `ConfigMap/${NAMESPACE}/rotator-config`,
        `Deployment/${NAMESPACE}/rotator-worker`,
        `NetworkPolicy/${NAMESPACE}/rotator-worker`,
        `Role/${NAMESPACE}/rotator`,
        `RoleBinding/${NAMESPACE}/rotator`,
        `ServiceAccount/${NAMESPACE}/rotator-worker`,
      ].sort(),
    );
    const all = render({ ...ALL, ...LISTENER_CONFIG });
    expect(deploymentsOf(all).map((d) => d.metadata!.name)).toEqual([
      'rotator-codec-server',
      'rotator-listener',
      'rotator-worker',
    ]);
    expect(
      all
        .filter((o) => o.kind === 'Service')
        .map((o) => o.metadata!.name)
        .sort(),
    ).toEqual(['rotator-codec-server', 'rotator-listener']);
    expect(all).toHaveLength(base.length + 8); // + 2 of each: ServiceAccount, Deployment, Service, NetworkPolicy
    // No secret value: the chart makes no Secret, it names existing ones.
    for (const objects of [base, all]) expect(objects.filter((o) => o.kind === 'Secret')).toEqual([]);
    // The codec server alone, without the worker: no Role, no config.
    const codecOnly = render({ worker: { enabled: false }, codecServer: { enabled: true } });
    expect(codecOnly.map((o) => o.kind).sort()).toEqual(['Deployment', 'NetworkPolicy', 'Service', 'ServiceAccount']);
  });

  it('passes a server-side dry run with strict field validation, object by object, with and without the optional components', async () => {
    const renders = {
      base: render(),
      all: render({ ...ALL, ...LISTENER_CONFIG }),
      tls: render({
        ...ALL,
        ...LISTENER_CONFIG,
        temporal: {
          address: 'rotator.tmprl.example:7233',
          tls: { enabled: true, existingSecret: 'temporal-tls', clientCertificate: true, serverName: 'temporal.example' },
          apiKey: { existingSecret: 'temporal-api-key', key: 'api-key' },
        },
        rbac: { namespaces: [OTHER_NAMESPACE] },
      }),
    };
    const accepted: Record<string, number> = {};
    for (const [name, objects] of Object.entries(renders)) {
      for (const object of objects) {
        const answer = await dryRun(object);
        expect({ object: id(object), kind: answer.kind }).toEqual({ object: id(object), kind: object.kind });
      }
      accepted[name] = objects.length;
    }
    expect(accepted).toEqual({ base: 6, all: 14, tls: 16 }); // tls: + a Role and RoleBinding in the other namespace
    // The server did the work: it defaulted what the chart leaves out, and stored nothing.
    const worker = await dryRun(one<k8s.V1Deployment>(renders.all, 'Deployment', 'rotator-worker'));
    expect(worker.spec?.strategy?.type).toBe('RollingUpdate');
    const apps = kc.makeApiClient(k8s.AppsV1Api);
    expect((await refusal(apps.readNamespacedDeployment({ name: 'rotator-worker', namespace: NAMESPACE }))).code).toBe(404);
  });

  it('makes pods that Pod Security "restricted" admits, and only the worker gets a token', async () => {
    for (const deployment of deploymentsOf(render({ ...ALL, ...LISTENER_CONFIG }))) {
      const pod = await core.createNamespacedPod({ namespace: NAMESPACE, body: podOf(deployment), dryRun: 'All' });
      const [container] = pod.spec!.containers;
      const name = deployment.metadata!.name;
      expect({
        name,
        readOnly: container.securityContext?.readOnlyRootFilesystem,
        drop: container.securityContext?.capabilities?.drop,
      }).toEqual({
        name,
        readOnly: true,
        drop: ['ALL'],
      });
      expect({ name, token: pod.spec!.automountServiceAccountToken }).toEqual({ name, token: name === 'rotator-worker' });
      expect(container.resources?.limits?.memory).toBeDefined();
    }
  });

  it('gives the worker the Role of examples/kubernetes/rotator-role.yaml, in each namespace asked for', () => {
    const objects = render({ rbac: { namespaces: [OTHER_NAMESPACE] } });
    const roles = objects.filter((o) => o.kind === 'Role') as unknown as k8s.V1Role[];
    expect(roles.map((r) => r.metadata!.namespace).sort()).toEqual([NAMESPACE, OTHER_NAMESPACE].sort());
    for (const role of roles) expect(role.rules).toEqual(documentedRole().rules);
    for (const binding of objects.filter((o) => o.kind === 'RoleBinding') as unknown as k8s.V1RoleBinding[]) {
      expect(binding.subjects).toEqual([{ kind: 'ServiceAccount', name: 'rotator-worker', namespace: NAMESPACE }]);
    }
    expect(render({ rbac: { create: false } }).filter((o) => o.kind === 'Role' || o.kind === 'RoleBinding')).toEqual([]);
  });

  it('writes the Temporal address, TLS and API key into the config rotator reads, from files it mounts from the named Secrets', () => {
    const objects = render({
      ...ALL,
      ...LISTENER_CONFIG,
      temporal: {
        address: 'rotator.tmprl.example:7233',
        namespace: 'rotator.a1b2c',
        tls: { enabled: true, existingSecret: 'temporal-tls', clientCertificate: true },
        apiKey: { existingSecret: 'temporal-api-key', key: 'api-key' },
      },
    });
    const text = one<k8s.V1ConfigMap>(objects, 'ConfigMap', 'rotator-config').data!['rotator.yaml'];
    const config = parseConfig(text, { CI_WEBHOOK_KEY: randomBytes(16).toString('hex') }, 'rotator-config');
    expect(config.temporal).toMatchObject({
      address: 'rotator.tmprl.example:7233',
      namespace: 'rotator.a1b2c',
      task_queue: 'rotator',
      tls: {
        ca_file: '/etc/rotator/temporal-tls/ca.crt',
        cert_file: '/etc/rotator/temporal-tls/tls.crt',
        key_file: '/etc/rotator/temporal-tls/tls.key',
      },
      api_key_file: '/etc/rotator/temporal-api-key/api-key',
    });
    // The listener serves on the port its container and Service name.
    const listener = one<k8s.V1Deployment>(objects, 'Deployment', 'rotator-listener');
    expect(config.triggers?.listen?.port).toBe(
      listener.spec!.template.spec!.containers[0].ports!.find((p) => p.name === 'http')!.containerPort,
    );

    for (const d of deploymentsOf(objects)) {
      const spec = d.spec!.template.spec!;
      const [container] = spec.containers;
      /** The Secret (and key) or ConfigMap a file path in the container comes from. */
      const source = (file: string | undefined) => {
        if (file === undefined) return undefined;
        const mount = container.volumeMounts!.find((m) => file.startsWith(`${m.mountPath}/`) && m.readOnly === true);
        const volume = spec.volumes!.find((v) => v.name === mount?.name);
        const item = (volume?.secret ?? volume?.configMap)?.items?.find((i) => `${mount!.mountPath}/${i.path}` === file);
        return { secret: volume?.secret?.secretName, configMap: volume?.configMap?.name, key: item?.key };
      };
      const env = Object.fromEntries((container.env ?? []).map((e) => [e.name, e.value]));
      expect(source(env.ROTATOR_CODEC_KEY_FILE)).toEqual({
        secret: 'rotator-codec-keys',
        configMap: undefined,
        key: 'codec.keys',
      });
      if (d.metadata!.name === 'rotator-codec-server') {
        expect(source(env.ROTATOR_CODEC_TOKEN_FILE)).toEqual({
          secret: 'rotator-codec-token',
          configMap: undefined,
          key: 'token',
        });
        continue;
      }
      expect(source(env.ROTATOR_CONFIG)).toEqual({ secret: undefined, configMap: 'rotator-config', key: 'rotator.yaml' });
      expect(source(config.temporal.tls!.ca_file!)).toEqual({ secret: 'temporal-tls', configMap: undefined, key: 'ca.crt' });
      expect(source(config.temporal.tls!.key_file!)).toEqual({ secret: 'temporal-tls', configMap: undefined, key: 'tls.key' });
      expect(source(config.temporal.api_key_file!)).toEqual({ secret: 'temporal-api-key', configMap: undefined, key: 'api-key' });
      expect(container.envFrom).toEqual([{ secretRef: { name: 'rotator-env' } }]);
    }

    // A config kept in an existing Secret: mounted as rotator.yaml, and the chart renders none of its own.
    const fromSecret = render({ config: { existingSecret: 'my-rotator-config', key: 'config.yaml' } });
    expect(fromSecret.filter((o) => o.kind === 'ConfigMap')).toEqual([]);
    const volume = one<k8s.V1Deployment>(fromSecret, 'Deployment', 'rotator-worker').spec!.template.spec!.volumes!.find(
      (v) => v.name === 'config',
    );
    expect(volume?.secret).toMatchObject({
      secretName: 'my-rotator-config',
      items: [{ key: 'config.yaml', path: 'rotator.yaml' }],
    });
  });

  it('binds the listener where its Service and probes look, whatever else the config sets under triggers.listen', () => {
    const rotator = LISTENER_CONFIG.config.rotator;
    const objects = render({
      ...ALL,
      config: {
        rotator: { ...rotator, triggers: { ...rotator.triggers, listen: { host: '127.0.0.1', port: 9999, max_body: 4096 } } },
      },
    });
    const text = one<k8s.V1ConfigMap>(objects, 'ConfigMap', 'rotator-config').data!['rotator.yaml'];
    const config = parseConfig(text, { CI_WEBHOOK_KEY: randomBytes(16).toString('hex') }, 'rotator-config');
    const listener = one<k8s.V1Deployment>(objects, 'Deployment', 'rotator-listener');
    const port = listener.spec!.template.spec!.containers[0].ports!.find((p) => p.name === 'http')!.containerPort;
    expect(config.triggers?.listen).toEqual({ host: '0.0.0.0', port, max_body: 4096 });
  });

  it('refuses values of the wrong type or a misspelt key, naming the value (values.schema.json)', () => {
    const wrongType = helm('template', RELEASE, CHART, '--set-string', 'worker.replicas=two');
    expect(wrongType.code).not.toBe(0);
    expect(wrongType.err).toMatch(/values don't meet the specifications of the schema/);
    expect(wrongType.err).toMatch(/\/worker\/replicas.*got string, want integer/);

    const misspelt = helm('template', RELEASE, CHART, '--set', 'workr.enabled=false');
    expect(misspelt.code).not.toBe(0);
    expect(misspelt.err).toMatch(/additional propert(y|ies) 'workr' not allowed/);

    const badAddress = helm('template', RELEASE, CHART, '--set', 'temporal.address=grpc://temporal:7233');
    expect(badAddress.code).not.toBe(0);
    expect(badAddress.err).toMatch(/\/temporal\/address/);
  });

  it('has the API server refuse what the schema lets through: a bad toleration (dry run, 422) and a root pod (Pod Security)', async () => {
    const badToleration = one<k8s.V1Deployment>(
      render({ worker: { tolerations: [{ key: 'dedicated', operator: 'Sometimes', effect: 'NoSchedule' }] } }),
      'Deployment',
      'rotator-worker',
    );
    const invalid = await refusal(dryRun(badToleration));
    expect(invalid.code).toBe(422);
    expect(invalid.message).toMatch(/spec\.template\.spec\.tolerations\[0\]\.operator: Unsupported value: "Sometimes"/);

    const root = one<k8s.V1Deployment>(render({ podSecurityContext: { runAsUser: 0 } }), 'Deployment', 'rotator-worker');
    const refused = await refusal(core.createNamespacedPod({ namespace: NAMESPACE, body: podOf(root), dryRun: 'All' }));
    expect(refused.code).toBe(403);
    expect(refused.message).toMatch(/violates PodSecurity "restricted:latest"/);
  });
});
