// The kubernetes store on the stack's real kube-apiserver, as the documented Role: what the contract suite cannot see.
import { randomBytes, randomUUID } from 'node:crypto';
import type * as k8s from '@kubernetes/client-node';
import { KubeClients, kubeConfigFor } from '../activities/kubernetes/client';
import { ProviderRegistry } from '../activities/registry';
import { kubernetes } from '../activities/stores/kubernetes';
import { KubernetesStore, type KubernetesStoreOptions } from '../activities/stores/kubernetes/store';
import { replaceOwnedFields } from '../activities/stored-value';
import type { SecretValue } from '../activities/types';
import { parseConfig } from '../src/config/load';
import { credential, rejection } from './contract/store-contract';
import { configError } from './support/config';
import { adminClients, kubeconfigFile, namespaceFor, roleWithout } from './support/kube';

const { core } = adminClients();
const MANAGED_BY = 'app.kubernetes.io/managed-by';

let opened: KubernetesStore[] = [];
afterEach(async () => {
  for (const s of opened) await s.close();
  opened = [];
});

/** A store as the `rotator` user, in a fresh namespace where it holds `role` (default: the documented Role). */
async function setUp(options: Partial<KubernetesStoreOptions> = {}, role?: k8s.V1Role) {
  const namespace = await namespaceFor('rotator', role);
  const clients = new KubeClients(kubeConfigFor({ kubeconfig: kubeconfigFile('rotator') }));
  const store = new KubernetesStore({ clients, namespace, ...options });
  opened.push(store);
  return { namespace, clients, store, name: `db-${randomBytes(3).toString('hex')}` };
}

/** A Secret as the admin sees it, its data decoded. */
async function secretAt(namespace: string, name: string): Promise<{ secret: k8s.V1Secret; data: Record<string, string> } | null> {
  try {
    const secret = await core.readNamespacedSecret({ name, namespace });
    const data = Object.fromEntries(Object.entries(secret.data ?? {}).map(([k, v]) => [k, Buffer.from(v, 'base64').toString()]));
    return { secret, data };
  } catch (err) {
    if ((err as { code?: number }).code === 404) return null;
    throw err;
  }
}

/** The value as Secret data holds it: every field a string. */
function asData(value: SecretValue): Record<string, string> {
  return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, String(v)]));
}

function secretData(value: Record<string, string>): Record<string, string> {
  return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, Buffer.from(v).toString('base64')]));
}

async function publish(store: KubernetesStore, path: string, value: SecretValue, expected: string | null): Promise<string> {
  const rotationId = randomUUID();
  await store.stagePending(path, rotationId, value, expected);
  const { version } = await store.promote(path, rotationId, expected);
  await store.discardPending(path, rotationId);
  return version;
}

/** What kubectl edit does: the same object back with other data, annotations and all. */
async function editData(namespace: string, name: string, data: Record<string, string>): Promise<void> {
  const secret = await core.readNamespacedSecret({ name, namespace });
  await core.replaceNamespacedSecret({ name, namespace, body: { ...secret, data: secretData(data) } });
}

describe('the kubernetes store', () => {
  it('keeps the exact bytes of keys a rotation does not own, binary data included, in an adopted Secret', async () => {
    const { namespace, store, name } = await setUp({ adopt: true });
    // Not UTF-8: read as text and written back, these bytes would come out as U+FFFD.
    const keystore = Buffer.from([0xfe, 0xed, 0xfe, 0xed, 0x00, 0x80, 0xff, 0xc3]).toString('base64');
    const data = {
      ...secretData({ username: 'app', password: 'old-0123456789', host: 'pgbouncer.orders', sslmode: 'verify-full' }),
      keystore,
    };
    await core.createNamespacedSecret({ namespace, body: { metadata: { name }, type: 'Opaque', data } });
    const current = (await store.readCurrent(name))!;
    const rotationId = randomUUID();
    await store.stagePending(
      name,
      rotationId,
      replaceOwnedFields(current.value, { password: 'new-0123456789' }),
      current.version,
    );
    await store.promote(name, rotationId, current.version);
    await store.discardPending(name, rotationId);
    const after = (await core.readNamespacedSecret({ name, namespace })).data!;
    expect(after.keystore).toBe(keystore);
    expect({ ...after, password: undefined }).toEqual({ ...data, password: undefined });
    expect(Buffer.from(after.password, 'base64').toString()).toBe('new-0123456789');
  });

  it('keeps a staged value out of <name> and <name>-previous: only <name>-rotator-pending holds it', async () => {
    const { namespace, store, name } = await setUp();
    const old = credential('app_a');
    await publish(store, name, old, null);
    const next = credential('app_b');
    const rotationId = randomUUID();
    await store.stagePending(name, rotationId, next, null);

    expect((await secretAt(namespace, name))!.data).toEqual(asData(old));
    expect(await secretAt(namespace, `${name}-previous`)).toBeNull();
    const pending = (await secretAt(namespace, `${name}-rotator-pending`))!;
    expect(pending.data).toEqual(asData(next));
    expect(pending.secret.metadata!.annotations!['rotator.dev/rotation-id']).toBe(rotationId);
    expect(pending.secret.metadata!.labels![MANAGED_BY]).toBe('rotator');
  });

  it('serves the new value in <name> after promote and keeps the replaced one in <name>-previous, same layout, until the claim ends', async () => {
    const { namespace, store, name } = await setUp();
    const old = credential('app_a');
    const v1 = await publish(store, name, old, null);
    const next = credential('app_b');
    const rotationId = randomUUID();
    await store.stagePending(name, rotationId, next, v1);
    const { version: v2 } = await store.promote(name, rotationId, v1);

    const current = (await secretAt(namespace, name))!;
    const previous = (await secretAt(namespace, `${name}-previous`))!;
    expect(current.data).toEqual(asData(next));
    expect(previous.data).toEqual(asData(old));
    expect(current.secret.metadata!.annotations!['rotator.dev/version']).toBe(v2);
    expect(previous.secret.metadata!.annotations!['rotator.dev/version']).toBe(v1);
    expect(previous.secret.metadata!.labels![MANAGED_BY]).toBe('rotator');
    expect(await store.readVersion(name, v1)).toEqual(old);

    expect(await secretAt(namespace, `${name}-rotator-pending`)).not.toBeNull(); // the claim, until discarded
    await store.discardPending(name, rotationId);
    expect(await secretAt(namespace, `${name}-rotator-pending`)).toBeNull();
  });

  it('puts the previous value back in <name> on rollback and leaves it in <name>-previous too', async () => {
    const { namespace, store, name } = await setUp();
    const old = credential('app_a');
    const v1 = await publish(store, name, old, null);
    const rotationId = randomUUID();
    await store.stagePending(name, rotationId, credential('app_b'), v1);
    const { version: v2 } = await store.promote(name, rotationId, v1);
    await store.rollback(name, rotationId, { toVersion: v1, fromVersion: v2 });

    expect((await secretAt(namespace, name))!.data).toEqual(asData(old));
    expect((await secretAt(namespace, `${name}-previous`))!.data).toEqual(asData(old));
    expect(await store.readCurrent(name)).toEqual({ version: v1, value: old });
  });

  it('reads numbers back as numbers and digit strings as strings, in pending, current and previous', async () => {
    const { namespace, store, name } = await setUp();
    const value: SecretValue = { ...credential(), port: 5432, dbname: '007', replicas: 3, ratio: 1.5 };
    const rotationId = randomUUID();
    await store.stagePending(name, rotationId, value, null);
    expect((await store.readPending(name, rotationId))?.value).toEqual(value);
    const { version } = await store.promote(name, rotationId, null);
    await store.discardPending(name, rotationId);
    expect(await store.readCurrent(name)).toEqual({ version, value });
    expect((await secretAt(namespace, name))!.data.port).toBe('5432'); // consumers mount it as text

    await publish(store, name, credential(), version);
    expect(await store.readVersion(name, version)).toEqual(value);
  });

  it('refuses to write over a Secret it does not manage, naming it and adopt: true, and leaves it as it was', async () => {
    const { namespace, store, name } = await setUp();
    const theirs = credential('theirs');
    await core.createNamespacedSecret({
      namespace,
      body: { metadata: { name, labels: { [MANAGED_BY]: 'Helm' } }, data: secretData(asData(theirs)) },
    });
    const before = (await secretAt(namespace, name))!;

    const found = await store.readCurrent(name);
    expect(found?.value).toEqual(asData(theirs)); // reading is fine; it has no rotator version
    const err = await rejection(store.stagePending(name, randomUUID(), credential(), found!.version), 'CONFLICT');
    expect(err.message).toContain(`Secret ${namespace}/${name}`);
    expect(err.message).toContain('managed by Helm');
    expect(err.message).toContain('set adopt: true on the provider to let rotator manage it');
    expect((await secretAt(namespace, name))!.secret.metadata!.resourceVersion).toBe(before.secret.metadata!.resourceVersion);
    expect(await secretAt(namespace, `${name}-rotator-pending`)).toBeNull();

    // The same for a sibling rotator would write: an unrelated <name>-previous.
    const other = `db-${randomBytes(3).toString('hex')}`;
    await core.createNamespacedSecret({ namespace, body: { metadata: { name: `${other}-previous` }, stringData: { x: 'y' } } });
    const sibling = await rejection(store.stagePending(other, randomUUID(), credential(), null), 'CONFLICT');
    expect(sibling.message).toContain(`Secret ${namespace}/${other}-previous`);
  });

  it('adopts an existing Secret with adopt: true: labels it, keeps what else it carries, and keeps its old value as previous', async () => {
    const { namespace, store, name } = await setUp({ adopt: true });
    const theirs = { username: 'app_a', password: credential().password! };
    await core.createNamespacedSecret({
      namespace,
      body: {
        metadata: { name, labels: { team: 'orders' }, annotations: { 'example.com/owner': 'orders-team' } },
        data: secretData(theirs),
      },
    });
    const found = (await store.readCurrent(name))!;
    expect(found.version).toMatch(/^rv-\d+$/);
    // Not written by rotator: when it was written is the API server's record of its last write.
    const created = (await secretAt(namespace, name))!.secret.metadata!.managedFields![0].time!;
    expect(await store.publishedAt(name)).toBe(new Date(created).getTime());

    const next = credential('app_b');
    const rotationId = randomUUID();
    await store.stagePending(name, rotationId, next, found.version);
    const { version } = await store.promote(name, rotationId, found.version);

    const current = (await secretAt(namespace, name))!;
    expect(current.data).toEqual(asData(next));
    expect(current.secret.metadata!.labels).toEqual({ team: 'orders', [MANAGED_BY]: 'rotator' });
    expect(current.secret.metadata!.annotations!['example.com/owner']).toBe('orders-team');
    expect((await secretAt(namespace, `${name}-previous`))!.data).toEqual(theirs);
    expect(await store.readVersion(name, found.version)).toEqual(theirs);
    expect(await store.readCurrent(name)).toEqual({ version, value: next });
  });

  it('fails promote with CONFLICT when someone edits the Secret after stage, and the edit stays as they wrote it', async () => {
    const { namespace, store, name } = await setUp();
    const old = credential('app_a');
    const v1 = await publish(store, name, old, null);
    const rotationId = randomUUID();
    const next = credential('app_b');
    await store.stagePending(name, rotationId, next, v1);

    const edit = { ...asData(old), password: credential().password! };
    await editData(namespace, name, edit);
    const seen = (await store.readCurrent(name))!;
    expect(seen.version).not.toBe(v1); // our annotation is still there, but the data is not what we wrote

    const err = await rejection(store.promote(name, rotationId, v1), 'CONFLICT');
    expect(err.message).toContain(name);
    expect(err.message).toContain('outside rotator');
    expect((await secretAt(namespace, name))!.data).toEqual(edit);
    expect(await secretAt(namespace, `${name}-previous`)).toBeNull();
    expect((await store.readPending(name, rotationId))?.value).toEqual(next);
  });

  it('fails with CONFLICT naming the Secret when another writer replaces it between our read and our write, and theirs stands', async () => {
    const { namespace, clients, store, name } = await setUp();
    const v1 = await publish(store, name, credential('app_a'), null);
    const rotationId = randomUUID();
    await store.stagePending(name, rotationId, credential('app_b'), v1);

    // The other writer goes in right before our replace of <name>: after promote read it, before it writes.
    const theirs = asData(credential('app_c'));
    const replace = clients.core.replaceNamespacedSecret.bind(clients.core);
    clients.core.replaceNamespacedSecret = async (request) => {
      if (request.name === name) await editData(namespace, name, theirs);
      return replace(request);
    };
    const err = await rejection(store.promote(name, rotationId, v1), 'CONFLICT');
    expect(err.message).toContain(`Secret ${namespace}/${name} was changed by another writer after rotator read it`);
    expect((await secretAt(namespace, name))!.data).toEqual(theirs);
    expect(await store.publishedBy(name, rotationId)).toBeNull();
  });

  it('finishes a promote that failed between writing <name>-previous and <name> when it is run again', async () => {
    const { namespace, clients, store, name } = await setUp();
    const v0 = await publish(store, name, credential('app_b'), null);
    const old = credential('app_a');
    const v1 = await publish(store, name, old, v0); // so <name>-previous exists and is replaced, not created
    const rotationId = randomUUID();
    const next = credential('app_b');
    await store.stagePending(name, rotationId, next, v1);

    // The API server answers the replace of <name> with 503 once: <name>-previous has been written by then.
    const replace = clients.core.replaceNamespacedSecret.bind(clients.core);
    let calls = 0;
    clients.core.replaceNamespacedSecret = async (request) => {
      if (request.name === name && calls++ === 0) throw Object.assign(new Error('unavailable'), { code: 503, body: {} });
      return replace(request);
    };
    await rejection(store.promote(name, rotationId, v1), 'TRANSIENT');
    expect(await store.readCurrent(name)).toEqual({ version: v1, value: old });
    expect((await secretAt(namespace, `${name}-previous`))!.data).toEqual(asData(old)); // readers of either get v1

    const promoted = await store.promote(name, rotationId, v1);
    expect(promoted.previousVersion).toBe(v1);
    expect(await store.readCurrent(name)).toEqual({ version: promoted.version, value: next });
    expect(await store.readVersion(name, v1)).toEqual(old);
  });

  it('refuses a pending value whose data was changed outside rotator instead of publishing it', async () => {
    const { namespace, store, name } = await setUp();
    const rotationId = randomUUID();
    const staged = credential();
    await store.stagePending(name, rotationId, staged, null);
    await editData(namespace, `${name}-rotator-pending`, { ...asData(staged), password: credential().password! });

    await rejection(store.readPending(name, rotationId), 'CONFLICT');
    await rejection(store.promote(name, rotationId, null), 'CONFLICT');
    expect(await secretAt(namespace, name)).toBeNull();
    await store.discardPending(name, rotationId); // the claim can still be ended
    expect(await secretAt(namespace, `${name}-rotator-pending`)).toBeNull();
  });

  it('names the missing permission (verb, resource, namespace) when the Role has no update on secrets', async () => {
    const { namespace, store, name } = await setUp({}, roleWithout('secrets', 'update'));
    // create and delete are enough for a first value; replacing it is what needs update
    const v1 = await publish(store, name, credential('app_a'), null);
    const rotationId = randomUUID();
    await store.stagePending(name, rotationId, credential('app_b'), v1);

    const err = await rejection(store.promote(name, rotationId, v1), 'PERMISSION_DENIED');
    expect(err.message).toContain(`replace Secret ${namespace}/${name}`);
    expect(err.message).toContain('cannot update resource "secrets"');
    expect(err.message).toContain(`in the namespace "${namespace}"`);
  });

  it('names the namespace when rotator holds no Role there', async () => {
    const { store } = await setUp();
    const err = await rejection(store.readCurrent('kube-system/db'), 'PERMISSION_DENIED');
    expect(err.message).toContain('cannot get resource "secrets"');
    expect(err.message).toContain('"kube-system"');
  });
});

describe('the kubernetes provider block and secret paths', () => {
  it('accepts <namespace>/<name> and <name>, and says why anything else can never be a Secret rotator keeps', () => {
    const why = (path: string) => kubernetes.checkPath(path);
    expect(why('orders-db')).toBeNull();
    expect(why('prod/orders.db')).toBeNull();
    expect(why('x'.repeat(237))).toBeNull();
    expect(why('Orders')).toMatch(/not a DNS-1123 subdomain/);
    expect(why('orders_db')).toMatch(/not a DNS-1123 subdomain/);
    expect(why('-orders')).toMatch(/not a DNS-1123 subdomain/);
    expect(why('prod.eu/orders')).toMatch(/namespace "prod.eu" is not a Kubernetes namespace/);
    expect(why('a/b/c')).toMatch(/expected <namespace>\/<secret-name>/);
    expect(why('/orders')).toMatch(/namespace "" is not/);
    expect(why('x'.repeat(238))).toMatch(/too long: rotator keeps x+-rotator-pending beside it.*at most 237/);
    expect(why('orders-previous')).toMatch(/ends in -previous/);
    expect(why('orders-rotator-pending')).toMatch(/ends in -rotator-pending/);
  });

  it('is built from its provider block: defaults filled, the kubeconfig and context it names used', async () => {
    const namespace = await namespaceFor('rotator');
    const kubeconfig = kubeconfigFile('rotator');
    const yaml = (extra: string) => `
providers:
  k8s: { type: kubernetes, kubeconfig: ${JSON.stringify(kubeconfig)}, namespace: ${namespace}${extra} }
secrets:
  db: { provider: k8s, path: orders-db }
`;
    const parsed = parseConfig(yaml(''), {});
    expect(parsed.providers.k8s).toEqual({ type: 'kubernetes', kubeconfig, namespace, adopt: false, stale_pending: 'fail' });
    const providers = new ProviderRegistry(parsed.providers);
    try {
      const store = await providers.store('k8s');
      expect(store).toBeInstanceOf(KubernetesStore);
      expect(await store.readCurrent('orders-db')).toBeNull(); // in the provider's namespace, as rotator
    } finally {
      await providers.close();
    }
    const wrong = new ProviderRegistry(parseConfig(yaml(', context: nowhere'), {}).providers);
    const err = await rejection(wrong.store('k8s'), 'CONFIG_INVALID');
    expect(err.message).toContain('the kubeconfig has no context "nowhere"');
  });

  it('is checked by rotator validate, naming the secret', () => {
    const yaml = (path: string) => `
providers:
  k8s: { type: kubernetes, namespace: prod }
secrets:
  db: { provider: k8s, path: ${JSON.stringify(path)} }
`;
    expect(configError(yaml('Orders_DB'), {})).toContain('secrets.db.path');
    expect(configError(yaml('Orders_DB'), {})).toContain('DNS-1123');
    expect(configError(yaml('orders-db').replace('prod', 'Prod'), {})).toContain('providers.k8s.namespace');
  });
});
