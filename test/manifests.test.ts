// The Kubernetes manifests in deploy/kubernetes on the stack's real kube-apiserver: server-side dry runs, Pod Security
// "restricted" on the pods the Deployments would make, and the worker's rights as RBAC decides them.
import { randomBytes } from 'node:crypto';
import * as fs from 'node:fs';
import * as path from 'node:path';
import * as k8s from '@kubernetes/client-node';
import { parse, parseAllDocuments } from 'yaml';
import { checkConfigOffline, parseConfig } from '../src/config/load';
import { REPO_ROOT } from '../src/stack/local-stack';
import { cli } from './support/cli';
import { documentedRole, kubeConfigAs } from './support/kube';
import { refusal, serverSideApplier } from './support/server-side-apply';

const DIR = path.join(REPO_ROOT, 'deploy', 'kubernetes');
const NAMESPACE = 'rotator';
const FIELD_MANAGER = 'rotator-manifests-test';

interface Manifest {
  file: string;
  object: k8s.KubernetesObject & { spec?: unknown; data?: Record<string, string>; rules?: k8s.V1PolicyRule[] };
}

/** Every object of every YAML file in deploy/kubernetes except the kustomization, in file order. */
function manifests(): Manifest[] {
  return manifestFiles().flatMap((file) =>
    parseAllDocuments(fs.readFileSync(path.join(DIR, file), 'utf8')).map((doc) => {
      if (doc.errors.length > 0) throw new Error(`${file}: ${doc.errors[0].message}`);
      return { file, object: doc.toJS() as Manifest['object'] };
    }),
  );
}

function manifestFiles(): string[] {
  return fs
    .readdirSync(DIR)
    .filter((f) => /\.ya?ml$/.test(f) && f !== 'kustomization.yaml')
    .sort();
}

function only<T extends Manifest['object']>(kind: string, name: string): T {
  const found = manifests().filter((m) => m.object.kind === kind && m.object.metadata?.name === name);
  if (found.length !== 1) throw new Error(`expected one ${kind} ${name} in deploy/kubernetes, found ${found.length}`);
  return structuredClone(found[0].object) as T;
}

const deployments = () =>
  manifests()
    .filter((m) => m.object.kind === 'Deployment')
    .map((m) => m.object as k8s.V1Deployment);

const kc = kubeConfigAs('admin');
const core = kc.makeApiClient(k8s.CoreV1Api);
const apps = kc.makeApiClient(k8s.AppsV1Api);
const authz = kc.makeApiClient(k8s.AuthorizationV1Api);

const serverSideApply = serverSideApplier(kc, FIELD_MANAGER);
const dryRunApply = <T extends k8s.KubernetesObject>(object: T) => serverSideApply(object, { dryRun: true });
const apply = <T extends k8s.KubernetesObject>(object: T) => serverSideApply(object, { dryRun: false });

/** The pod a Deployment's ReplicaSet would create (there is no controller here to make it). */
function podOf(deployment: k8s.V1Deployment, name = `${deployment.metadata!.name}-${randomBytes(3).toString('hex')}`): k8s.V1Pod {
  return {
    apiVersion: 'v1',
    kind: 'Pod',
    metadata: { name, namespace: deployment.metadata!.namespace, labels: deployment.spec!.template.metadata?.labels },
    spec: deployment.spec!.template.spec,
  };
}

async function allowed(serviceAccount: string, verb: string, group: string, resource: string): Promise<boolean> {
  const review = await authz.createSubjectAccessReview({
    body: {
      spec: {
        user: `system:serviceaccount:${NAMESPACE}:${serviceAccount}`,
        groups: ['system:serviceaccounts', `system:serviceaccounts:${NAMESPACE}`, 'system:authenticated'],
        resourceAttributes: { namespace: NAMESPACE, verb, group, resource },
      },
    },
  });
  return review.status?.allowed === true;
}

// The namespace and ServiceAccounts exist for real: a dry run in a missing namespace is refused, and a pod naming a
// ServiceAccount that does not exist too. There is no namespace controller, so the namespace stays Terminating after.
beforeAll(async () => {
  for (const m of manifests()) if (m.object.kind === 'Namespace' || m.object.kind === 'ServiceAccount') await apply(m.object);
});
afterAll(async () => {
  await core.deleteNamespace({ name: NAMESPACE }).catch(() => undefined);
});

describe('deploy/kubernetes', () => {
  it('lists every manifest file in its kustomization, and every object lives in the namespace rotator', () => {
    const kustomization = parse(fs.readFileSync(path.join(DIR, 'kustomization.yaml'), 'utf8')) as { resources: string[] };
    expect([...kustomization.resources].sort()).toEqual(manifestFiles());
    const all = manifests();
    expect(all.map((m) => m.object.kind)).toEqual(
      expect.arrayContaining(['Namespace', 'ServiceAccount', 'Role', 'RoleBinding', 'ConfigMap', 'Deployment', 'Service']),
    );
    for (const { file, object } of all) {
      if (object.kind === 'Namespace') expect(object.metadata?.name).toBe(NAMESPACE);
      else expect({ file, namespace: object.metadata?.namespace }).toEqual({ file, namespace: NAMESPACE });
    }
    expect(deployments().map((d) => d.metadata!.name)).toEqual(['rotator-codec-server', 'rotator-listener', 'rotator-worker']);
  });

  it('passes a server-side dry run on the real API server, object by object, and stores none of them', async () => {
    const all = manifests();
    for (const { file, object } of all) {
      const answer = await dryRunApply(object);
      expect({ file, kind: answer.kind, name: answer.metadata?.name }).toEqual({
        file,
        kind: object.kind,
        name: object.metadata?.name,
      });
    }
    // The server did the work: it defaulted what the files leave out …
    const worker = await dryRunApply(only<k8s.V1Deployment>('Deployment', 'rotator-worker'));
    expect(worker.spec?.strategy?.type).toBe('RollingUpdate');
    expect(worker.spec?.template.spec?.containers[0].terminationMessagePath).toBe('/dev/termination-log');
    // … and kept nothing.
    expect((await refusal(apps.readNamespacedDeployment({ name: 'rotator-worker', namespace: NAMESPACE }))).code).toBe(404);
    expect((await refusal(core.readNamespacedConfigMap({ name: 'rotator-config', namespace: NAMESPACE }))).code).toBe(404);
  });

  it('refuses, in the same dry run, a manifest with an unknown field or an invalid value, naming it', async () => {
    const unknownField = only<k8s.V1Deployment>('Deployment', 'rotator-worker');
    (unknownField.spec!.template.spec!.containers[0] as unknown as Record<string, unknown>).imagePolicy = 'Always';
    const unknown = await refusal(dryRunApply(unknownField));
    expect(unknown.code).toBe(500); // what this server answers for a field the schema lacks
    expect(unknown.message).toMatch(/containers\[name="worker"\]\.imagePolicy: field not declared in schema/);

    const badPort = only<k8s.V1Deployment>('Deployment', 'rotator-worker');
    badPort.spec!.template.spec!.containers[0].ports![0].containerPort = 70000;
    const invalid = await refusal(dryRunApply(badPort));
    expect(invalid.code).toBe(422);
    expect(invalid.message).toMatch(/containerPort/);
  });

  it('makes pods that Pod Security "restricted" admits: non-root, no capabilities, no privilege escalation', async () => {
    const namespace = await core.readNamespace({ name: NAMESPACE });
    expect(namespace.metadata?.labels?.['pod-security.kubernetes.io/enforce']).toBe('restricted');
    for (const deployment of deployments()) {
      const pod = await core.createNamespacedPod({ namespace: NAMESPACE, body: podOf(deployment), dryRun: 'All' });
      const [container] = pod.spec!.containers;
      expect({ name: deployment.metadata!.name, readOnly: container.securityContext?.readOnlyRootFilesystem }).toEqual({
        name: deployment.metadata!.name,
        readOnly: true,
      });
      expect(container.securityContext?.capabilities?.drop).toEqual(['ALL']);
      expect(container.resources?.requests).toBeDefined();
      expect(container.resources?.limits?.memory).toBeDefined();
    }
  });

  it('has Pod Security refuse a worker pod that would run as root (the admission check above can fail)', async () => {
    const root = only<k8s.V1Deployment>('Deployment', 'rotator-worker');
    root.spec!.template.spec!.securityContext = { ...root.spec!.template.spec!.securityContext, runAsUser: 0 };
    const refused = await refusal(core.createNamespacedPod({ namespace: NAMESPACE, body: podOf(root), dryRun: 'All' }));
    expect(refused.code).toBe(403);
    expect(refused.message).toMatch(/violates PodSecurity "restricted:latest".*runAsUser=0/);
  });

  it('gives the worker the Role of examples/kubernetes/rotator-role.yaml, and only the worker', async () => {
    const role = only<k8s.V1Role>('Role', 'rotator');
    expect(role.rules).toEqual(documentedRole().rules);
    const binding = only<k8s.V1RoleBinding>('RoleBinding', 'rotator');
    expect(binding.roleRef).toEqual({ apiGroup: 'rbac.authorization.k8s.io', kind: 'Role', name: 'rotator' });
    expect(binding.subjects).toEqual([{ kind: 'ServiceAccount', name: 'rotator-worker', namespace: NAMESPACE }]);

    // What RBAC itself decides once the two exist.
    await apply(role);
    await apply(binding);
    expect(await allowed('rotator-worker', 'get', '', 'secrets')).toBe(true);
    expect(await allowed('rotator-worker', 'update', '', 'secrets')).toBe(true);
    expect(await allowed('rotator-worker', 'patch', 'apps', 'deployments')).toBe(true);
    expect(await allowed('rotator-worker', 'list', '', 'secrets')).toBe(false);
    expect(await allowed('rotator-worker', 'delete', 'apps', 'deployments')).toBe(false);
    expect(await allowed('rotator-worker', 'create', '', 'pods')).toBe(false);
    expect(await allowed('rotator-listener', 'get', '', 'secrets')).toBe(false);
    expect(await allowed('rotator-codec-server', 'get', '', 'secrets')).toBe(false);

    for (const d of deployments()) {
      const worker = d.metadata!.name === 'rotator-worker';
      expect({ name: d.metadata!.name, token: d.spec!.template.spec!.automountServiceAccountToken }).toEqual({
        name: d.metadata!.name,
        token: worker,
      });
    }
  });

  it('holds no secret value: no Secret objects, and the config takes its keys from the environment', () => {
    expect(manifests().filter((m) => m.object.kind === 'Secret')).toEqual([]);
    const text = only<k8s.V1ConfigMap>('ConfigMap', 'rotator-config').data!['rotator.yaml'];
    // Without the Secret rotator-env, the one sensitive field is unchecked rather than written inline.
    expect(checkConfigOffline(text, {}, 'rotator-config').unchecked).toEqual([
      { path: 'triggers.sources.ci.signing_key', variable: 'CI_WEBHOOK_KEY' },
    ]);
    const config = parseConfig(text, { CI_WEBHOOK_KEY: randomBytes(16).toString('hex') }, 'rotator-config');
    expect(config.triggers?.listen).toMatchObject({ host: '0.0.0.0', port: 8088 });
  });

  it('mounts the config, keys and token where the containers are told to find them', () => {
    for (const d of deployments()) {
      const spec = d.spec!.template.spec!;
      const [container] = spec.containers;
      const env = Object.fromEntries((container.env ?? []).map((e) => [e.name, e.value]));
      const mounted = (file: string | undefined) =>
        (container.volumeMounts ?? []).some((m) => file?.startsWith(`${m.mountPath}/`) && m.readOnly === true);
      for (const variable of ['ROTATOR_CONFIG', 'ROTATOR_CODEC_KEY_FILE', 'ROTATOR_CODEC_TOKEN_FILE']) {
        if (env[variable] !== undefined)
          expect({ variable, mounted: mounted(env[variable]) }).toEqual({ variable, mounted: true });
      }
      expect(env.ROTATOR_CODEC_KEY_FILE).toBe('/etc/rotator/codec/codec.keys');
      // A key file's directory is a Secret volume, not a ConfigMap.
      const keys = container.volumeMounts!.find((m) => m.mountPath === '/etc/rotator/codec')!;
      expect(spec.volumes!.find((v) => v.name === keys.name)?.secret?.secretName).toBe('rotator-codec-keys');
    }
    const listener = only<k8s.V1Deployment>('Deployment', 'rotator-listener');
    const port = listener.spec!.template.spec!.containers[0].ports!.find((p) => p.name === 'http')!.containerPort;
    const text = only<k8s.V1ConfigMap>('ConfigMap', 'rotator-config').data!['rotator.yaml'];
    expect(parseConfig(text, { CI_WEBHOOK_KEY: 'k'.repeat(32) }).triggers?.listen?.port).toBe(port);
  });

  it('runs, here and in docker-compose.yml, only commands the CLI has, with flags they take', async () => {
    const compose = parse(fs.readFileSync(path.join(REPO_ROOT, 'docker-compose.yml'), 'utf8')) as {
      services: Record<string, { image?: string; command?: string[] }>;
    };
    const runs = [
      ...deployments().map((d) => ({ where: d.metadata!.name!, args: d.spec!.template.spec!.containers[0].args! })),
      ...Object.entries(compose.services)
        .filter(([, s]) => s.image === 'rotator:local')
        .map(([name, s]) => ({ where: `compose ${name}`, args: s.command! })),
    ];
    expect(runs.map((r) => r.args[0]).sort()).toEqual(
      ['codec-server', 'codec-server', 'keygen', 'listen', 'listen', 'worker', 'worker'].sort(),
    );
    for (const { where, args } of runs) {
      const help = await cli(args[0], '--help');
      expect({ where, code: help.code, usage: help.out.split('\n')[0] }).toEqual({
        where,
        code: 0,
        usage: expect.stringContaining(`rotator ${args[0]}`),
      });
      for (const flag of args.filter((a) => a.startsWith('--'))) {
        expect({ where, flag, known: help.out.includes(`${flag} `) }).toEqual({ where, flag, known: true });
      }
    }
  });

  it('names only Secrets whose `kubectl create secret` docs/deployment.md gives', () => {
    const page = fs.readFileSync(path.join(REPO_ROOT, 'docs/deployment.md'), 'utf8');
    const names = new Set<string>();
    for (const d of deployments()) {
      const spec = d.spec!.template.spec!;
      for (const v of spec.volumes ?? []) if (v.secret?.secretName) names.add(v.secret.secretName);
      for (const c of spec.containers) for (const e of c.envFrom ?? []) if (e.secretRef?.name) names.add(e.secretRef.name);
    }
    expect([...names].sort()).toEqual(['rotator-codec-keys', 'rotator-codec-token', 'rotator-env']);
    for (const name of names) expect(page).toContain(`kubectl -n rotator create secret generic ${name}`);
  });
});
