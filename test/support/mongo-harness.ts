// A rotator wired to the test stack's FerretDB: its admin credential in a swappable secret store, a worker, login probes.
import { MongoClient, MongoServerError, type Document } from 'mongodb';
import type { SecretValue } from '../../activities/types';
import { unique } from './harness';
import { startRotator, type Rotator } from './rotator';
import { rotatorYaml } from './rotator-config';
import { testStack } from './stack';
import { vaultTestStore, type TestStore } from './test-stores';

export { vaultTestStore, type TestStore } from './test-stores';

/** The stack's FerretDB admin in the shape stores hold database credentials. */
export function mongoAdminSecret(): SecretValue {
  const f = testStack().ferretdb!;
  return { engine: 'mongo', host: f.host, port: f.port, username: f.user, password: f.password, dbname: f.authDatabase };
}

function client(
  username: string,
  password: string,
  authSource: string,
  mechanism?: 'SCRAM-SHA-256' | 'SCRAM-SHA-1',
): MongoClient {
  const f = testStack().ferretdb!;
  return new MongoClient(`mongodb://${f.host}:${f.port}/`, {
    auth: { username, password },
    authSource,
    ...(mechanism ? { authMechanism: mechanism } : {}),
    serverSelectionTimeoutMS: 5000,
    maxPoolSize: 1,
  });
}

/** Runs one command as the stack's admin. */
export async function adminCommand(command: Document, db = 'admin'): Promise<Document> {
  const f = testStack().ferretdb!;
  const c = client(f.user, f.password, f.authDatabase);
  try {
    return await c.db(db).command(command);
  } finally {
    await c.close();
  }
}

/** The user as usersInfo reports it, or null when there is none. */
export async function mongoUser(username: string, db = 'admin'): Promise<Document | null> {
  const res = await adminCommand({ usersInfo: { user: username, db } }, db);
  return (res.users as Document[])[0] ?? null;
}

/** How the server answers a login that then pings: 'ok', or 'refused' for a failed authentication. */
export async function mongoLogin(
  username: string,
  password: string,
  opts: { db?: string; mechanism?: 'SCRAM-SHA-256' | 'SCRAM-SHA-1' } = {},
): Promise<'ok' | 'refused'> {
  const c = client(username, password, opts.db ?? 'admin', opts.mechanism);
  try {
    await c.db(opts.db ?? 'admin').command({ ping: 1 });
    return 'ok';
  } catch (err) {
    if (err instanceof MongoServerError && err.code === 18) return 'refused'; // AuthenticationFailed
    throw err;
  } finally {
    await c.close();
  }
}

export interface MongoSecretSpec {
  name: string;
  user: string;
  roles: Array<{ role: string; db: string }>;
  strategy?: 'alternating-users' | 'single-user';
  /** More YAML lines under rotation:, e.g. 'verify: { query: "{\"ping\":1}" }'. */
  extra?: string;
}

function configYaml(taskQueue: string, store: TestStore, adminName: string, specs: MongoSecretSpec[]): string {
  return rotatorYaml({
    temporalAddress: testStack().temporal!.address,
    taskQueue,
    provider: { name: 'store', yaml: store.providerYaml },
    admin: { name: 'mongo_admin', path: store.configPath(adminName) },
    secrets: specs.map((s) => ({
      name: s.name,
      path: store.configPath(s.name),
      type: 'mongodb',
      target: [`user: ${s.user}`, 'database: admin', `roles: ${JSON.stringify(s.roles)}`],
      rotation: [`strategy: ${s.strategy ?? 'alternating-users'}`, 'drain: { timeout: 1s }'],
      extra: s.extra,
    })),
  });
}

export interface MongoHarness extends Rotator {
  taskQueue: string;
  store: TestStore;
}

/** A worker and a client on a fresh task queue; the stack's FerretDB admin is seeded into the store first. */
export async function startMongoHarness(specs: MongoSecretSpec[], store: TestStore = vaultTestStore()): Promise<MongoHarness> {
  const taskQueue = unique('tq');
  const adminName = unique('mongo_admin');
  await store.write(adminName, mongoAdminSecret());
  const rotator = await startRotator(configYaml(taskQueue, store, adminName, specs), store.env);
  return { ...rotator, taskQueue, store };
}
