// A protocol-faithful fake of the GCP Secret Manager v1 gRPC API, for the gcp-secret-manager store's tests.
//
// What it is: a @grpc/grpc-js server for google.cloud.secretmanager.v1.SecretManagerService, loaded from the very
// .proto files @google-cloud/secret-manager ships, implementing the methods the store calls as the API reference
// documents them: CreateSecret (ALREADY_EXISTS when the id is taken; replication required), GetSecret,
// UpdateSecret (update_mask required; an etag that does not match is FAILED_PRECONDITION), DeleteSecret (at once,
// the id free again; etag-conditioned), AddSecretVersion (versions numbered 1, 2, …; data_crc32c checked:
// INVALID_ARGUMENT on mismatch), GetSecretVersion and AccessSecretVersion (`latest` = the most recently added
// version whatever its state; a disabled or destroyed one is FAILED_PRECONDITION to access), Disable/Enable
// SecretVersion and ListSecretVersions. A missing secret or version is NOT_FOUND (code 5). Resource names in answers
// carry the project *number*, as the service's do, whatever the request named. Annotation keys and sizes, label
// keys and values, and secret ids are checked by the documented rules (INVALID_ARGUMENT). With `tls`, it serves TLS
// and refuses a call without `authorization: Bearer <token>` metadata (UNAUTHENTICATED, code 16); without, it is
// plaintext and unauthenticated, like an emulator.
//
// What it proves: that the store speaks the documented protocol through the real SDK and handles the documented
// errors and states. What it does not prove: real-service quirks (eventual consistency of a list or of `latest`
// across regions, RESOURCE_EXHAUSTED quotas and the SDK's retries against them), IAM, CMEK, regional secrets,
// version_destroy_ttl, expiry, Pub/Sub notifications, or ADC and workload identity themselves.
import { randomBytes } from 'node:crypto';
import { join } from 'node:path';
import * as grpc from '@grpc/grpc-js';
import * as protoLoader from '@grpc/proto-loader';
import { crc32c } from '../../activities/stores/gcp-secret-manager/store';

export interface FakeSecretManager {
  /** 127.0.0.1 */
  host: string;
  port: number;
  /** The bearer token accepted (with tls). */
  token: string;
  /** Calls refused for want of a valid token. */
  unauthenticated: number;
  /** Every call, by method name. */
  calls: string[];
  /**
   * Makes another writer win a race: the next AddSecretVersion to `secretId` first adds `data` as a version of its
   * own, as a writer landing between the caller's check and its write would.
   */
  interleaveNextAdd(secretId: string, data: Buffer): void;
  stop(): Promise<void>;
}

type State = 'ENABLED' | 'DISABLED' | 'DESTROYED';

interface Timestamp {
  seconds: string;
  nanos: number;
}

interface StoredVersion {
  number: number;
  data: Buffer;
  state: State;
  createTime: Timestamp;
  etag: string;
  checksummed: boolean;
}

interface StoredSecret {
  id: string;
  labels: Record<string, string>;
  annotations: Record<string, string>;
  replication: unknown;
  createTime: Timestamp;
  etag: string;
  versions: StoredVersion[];
}

const PROTOS = join(require.resolve('@google-cloud/secret-manager/package.json'), '..', 'build', 'protos');
/** google/api, google/iam and google/protobuf, which service.proto imports: shipped by google-gax, the SDK's runtime. */
const COMMON_PROTOS = join(require.resolve('google-gax', { paths: [PROTOS] }), '..', '..', 'protos');
const SECRET_ID = /^[A-Za-z0-9_-]{1,255}$/;
const ANNOTATION_KEY = /^[a-zA-Z0-9]([a-zA-Z0-9._-]{0,61}[a-zA-Z0-9])?$/;
const LABEL_KEY = /^[\p{Ll}\p{Lo}][\p{Ll}\p{Lo}\p{N}_-]{0,62}$/u;
const LABEL_VALUE = /^[\p{Ll}\p{Lo}\p{N}_-]{0,63}$/u;
const MAX_ANNOTATIONS_BYTES = 16 * 1024;

class RpcError extends Error {
  constructor(
    readonly code: grpc.status,
    message: string,
  ) {
    super(message);
  }
}

const now = (): Timestamp => {
  const ms = Date.now();
  return { seconds: String(Math.floor(ms / 1000)), nanos: (ms % 1000) * 1e6 };
};
const newEtag = () => `"${randomBytes(8).toString('hex')}"`;

export async function startFakeSecretManager(
  options: { project: string; projectNumber?: string; tls?: { key: string; cert: string } } = { project: 'rotator-test' },
): Promise<FakeSecretManager> {
  const projectNumber = options.projectNumber ?? '482913660217';
  const token = `fake-sm-${randomBytes(16).toString('hex')}`;
  const secrets = new Map<string, StoredSecret>();
  const stats = { unauthenticated: 0, calls: [] as string[] };
  const interleaved = new Map<string, Buffer>();

  const definition = protoLoader.loadSync(join(PROTOS, 'google/cloud/secretmanager/v1/service.proto'), {
    includeDirs: [PROTOS, COMMON_PROTOS],
    keepCase: false,
    longs: String,
    enums: String,
    defaults: false,
    oneofs: true,
  });
  const loaded = grpc.loadPackageDefinition(definition) as unknown as {
    google: { cloud: { secretmanager: { v1: { SecretManagerService: { service: grpc.ServiceDefinition } } } } };
  };
  const service = loaded.google.cloud.secretmanager.v1.SecretManagerService.service;

  const projectOk = (p: string) => p === options.project || p === projectNumber;
  const secretName = (s: StoredSecret) => `projects/${projectNumber}/secrets/${s.id}`;

  /** projects/{p}/secrets/{id} → the stored secret (NOT_FOUND when missing). */
  function secretOf(name: string): StoredSecret {
    const m = /^projects\/([^/]+)\/secrets\/([^/]+)$/.exec(name ?? '');
    if (!m || !projectOk(m[1]!))
      throw new RpcError(grpc.status.INVALID_ARGUMENT, `Invalid resource field value in the request: ${name}`);
    const s = secrets.get(m[2]!);
    if (!s) throw new RpcError(grpc.status.NOT_FOUND, `Secret [${name}] not found.`);
    return s;
  }

  /** projects/{p}/secrets/{id}/versions/{n|latest} → the stored version (NOT_FOUND when missing). */
  function versionOf(name: string): { secret: StoredSecret; version: StoredVersion } {
    const m = /^(projects\/[^/]+\/secrets\/[^/]+)\/versions\/([^/]+)$/.exec(name ?? '');
    if (!m) throw new RpcError(grpc.status.INVALID_ARGUMENT, `Invalid resource field value in the request: ${name}`);
    const secret = secretOf(m[1]!);
    const version = m[2] === 'latest' ? secret.versions.at(-1) : secret.versions.find((v) => String(v.number) === m[2]);
    if (!version) throw new RpcError(grpc.status.NOT_FOUND, `Secret Version [${name}] not found.`);
    return { secret, version };
  }

  function checkMaps(labels: Record<string, string> | undefined, annotations: Record<string, string> | undefined): void {
    for (const [k, v] of Object.entries(labels ?? {}))
      if (!LABEL_KEY.test(k) || !LABEL_VALUE.test(v)) throw new RpcError(grpc.status.INVALID_ARGUMENT, `invalid label ${k}`);
    let bytes = 0;
    for (const [k, v] of Object.entries(annotations ?? {})) {
      if (!ANNOTATION_KEY.test(k)) throw new RpcError(grpc.status.INVALID_ARGUMENT, `invalid annotation key ${k}`);
      bytes += Buffer.byteLength(k) + Buffer.byteLength(v);
    }
    if (bytes > MAX_ANNOTATIONS_BYTES) throw new RpcError(grpc.status.INVALID_ARGUMENT, 'annotations exceed 16KiB');
  }

  const secretMessage = (s: StoredSecret) => ({
    name: secretName(s),
    replication: s.replication,
    createTime: s.createTime,
    labels: s.labels,
    annotations: s.annotations,
    etag: s.etag,
  });
  const versionMessage = (s: StoredSecret, v: StoredVersion) => ({
    name: `${secretName(s)}/versions/${v.number}`,
    createTime: v.createTime,
    state: v.state,
    etag: v.etag,
    clientSpecifiedPayloadChecksum: v.checksummed,
    ...(v.state === 'DESTROYED' ? { destroyTime: v.createTime } : {}),
  });

  type Handler = (request: Record<string, unknown>) => unknown;
  const handlers: Record<string, Handler> = {
    CreateSecret(r) {
      const parent = /^projects\/([^/]+)$/.exec(String(r.parent ?? ''));
      if (!parent || !projectOk(parent[1]!)) throw new RpcError(grpc.status.INVALID_ARGUMENT, 'Invalid parent');
      const id = String(r.secretId ?? '');
      if (!SECRET_ID.test(id)) throw new RpcError(grpc.status.INVALID_ARGUMENT, `Invalid secret id ${id}`);
      const body = (r.secret ?? {}) as {
        replication?: unknown;
        labels?: Record<string, string>;
        annotations?: Record<string, string>;
      };
      if (!body.replication) throw new RpcError(grpc.status.INVALID_ARGUMENT, 'Secret.replication is required');
      checkMaps(body.labels, body.annotations);
      if (secrets.has(id))
        throw new RpcError(grpc.status.ALREADY_EXISTS, `Secret [projects/${projectNumber}/secrets/${id}] already exists.`);
      const s: StoredSecret = {
        id,
        labels: body.labels ?? {},
        annotations: body.annotations ?? {},
        replication: body.replication,
        createTime: now(),
        etag: newEtag(),
        versions: [],
      };
      secrets.set(id, s);
      return secretMessage(s);
    },
    GetSecret: (r) => secretMessage(secretOf(String(r.name))),
    UpdateSecret(r) {
      const body = (r.secret ?? {}) as {
        name?: string;
        etag?: string;
        labels?: Record<string, string>;
        annotations?: Record<string, string>;
      };
      const s = secretOf(String(body.name));
      const paths = ((r.updateMask ?? {}) as { paths?: string[] }).paths ?? [];
      if (paths.length === 0) throw new RpcError(grpc.status.INVALID_ARGUMENT, 'update_mask is required');
      if (body.etag && body.etag !== s.etag)
        throw new RpcError(
          grpc.status.FAILED_PRECONDITION,
          `The etag provided does not match the current etag of Secret [${secretName(s)}].`,
        );
      for (const p of paths)
        if (p !== 'annotations' && p !== 'labels')
          throw new RpcError(grpc.status.INVALID_ARGUMENT, `unsupported update_mask path ${p}`);
      checkMaps(paths.includes('labels') ? body.labels : undefined, paths.includes('annotations') ? body.annotations : undefined);
      if (paths.includes('labels')) s.labels = body.labels ?? {};
      if (paths.includes('annotations')) s.annotations = body.annotations ?? {};
      s.etag = newEtag();
      return secretMessage(s);
    },
    DeleteSecret(r) {
      const s = secretOf(String(r.name));
      if (r.etag && r.etag !== s.etag)
        throw new RpcError(
          grpc.status.FAILED_PRECONDITION,
          `The etag provided does not match the current etag of Secret [${secretName(s)}].`,
        );
      secrets.delete(s.id);
      return {};
    },
    AddSecretVersion(r) {
      const s = secretOf(String(r.parent));
      const payload = (r.payload ?? {}) as { data?: Buffer; dataCrc32c?: string };
      const data = payload.data ?? Buffer.alloc(0);
      if (data.length > 64 * 1024) throw new RpcError(grpc.status.INVALID_ARGUMENT, 'payload exceeds 64KiB');
      if (payload.dataCrc32c !== undefined && Number(payload.dataCrc32c) !== crc32c(data))
        throw new RpcError(grpc.status.INVALID_ARGUMENT, 'Checksum mismatch: data_crc32c does not match the payload.');
      const other = interleaved.get(s.id);
      if (other) {
        interleaved.delete(s.id);
        const n = (s.versions.at(-1)?.number ?? 0) + 1;
        s.versions.push({ number: n, data: other, state: 'ENABLED', createTime: now(), etag: newEtag(), checksummed: false });
      }
      const v: StoredVersion = {
        number: (s.versions.at(-1)?.number ?? 0) + 1,
        data: Buffer.from(data),
        state: 'ENABLED',
        createTime: now(),
        etag: newEtag(),
        checksummed: payload.dataCrc32c !== undefined,
      };
      s.versions.push(v);
      return versionMessage(s, v);
    },
    GetSecretVersion(r) {
      const { secret, version } = versionOf(String(r.name));
      return versionMessage(secret, version);
    },
    AccessSecretVersion(r) {
      const { secret, version } = versionOf(String(r.name));
      const name = `${secretName(secret)}/versions/${version.number}`;
      if (version.state !== 'ENABLED')
        throw new RpcError(grpc.status.FAILED_PRECONDITION, `Secret Version [${name}] is in ${version.state} state.`);
      return { name, payload: { data: version.data, dataCrc32c: String(crc32c(version.data)) } };
    },
    DisableSecretVersion(r) {
      const { secret, version } = versionOf(String(r.name));
      if (r.etag && r.etag !== version.etag) throw new RpcError(grpc.status.FAILED_PRECONDITION, 'etag mismatch');
      if (version.state === 'DESTROYED') throw new RpcError(grpc.status.FAILED_PRECONDITION, 'version is destroyed');
      version.state = 'DISABLED';
      version.etag = newEtag();
      return versionMessage(secret, version);
    },
    EnableSecretVersion(r) {
      const { secret, version } = versionOf(String(r.name));
      if (r.etag && r.etag !== version.etag) throw new RpcError(grpc.status.FAILED_PRECONDITION, 'etag mismatch');
      if (version.state === 'DESTROYED') throw new RpcError(grpc.status.FAILED_PRECONDITION, 'version is destroyed');
      version.state = 'ENABLED';
      version.etag = newEtag();
      return versionMessage(secret, version);
    },
    ListSecretVersions(r) {
      const s = secretOf(String(r.parent));
      const size = Math.min(Number(r.pageSize ?? 0) || 25, 25);
      const skip = Number(r.pageToken || 0);
      const newestFirst = [...s.versions].reverse();
      const page = newestFirst.slice(skip, skip + size);
      return {
        versions: page.map((v) => versionMessage(s, v)),
        nextPageToken: skip + size < newestFirst.length ? String(skip + size) : '',
        totalSize: newestFirst.length,
      };
    },
  };

  const implementation: grpc.UntypedServiceImplementation = {};
  for (const [method, handler] of Object.entries(handlers)) {
    implementation[method] = (
      call: grpc.ServerUnaryCall<Record<string, unknown>, unknown>,
      callback: grpc.sendUnaryData<unknown>,
    ) => {
      stats.calls.push(method);
      if (options.tls) {
        const auth = call.metadata.get('authorization')[0];
        if (auth !== `Bearer ${token}`) {
          stats.unauthenticated++;
          return callback({
            code: grpc.status.UNAUTHENTICATED,
            details:
              'Request had invalid authentication credentials. Expected OAuth 2 access token, login cookie or other valid authentication credential.',
          });
        }
      }
      try {
        callback(null, handler(call.request));
      } catch (err) {
        if (err instanceof RpcError) return callback({ code: err.code, details: err.message });
        callback({ code: grpc.status.INTERNAL, details: String(err) });
      }
    };
  }

  const server = new grpc.Server();
  server.addService(service, implementation);
  const credentials = options.tls
    ? grpc.ServerCredentials.createSsl(
        null,
        [{ private_key: Buffer.from(options.tls.key), cert_chain: Buffer.from(options.tls.cert) }],
        false,
      )
    : grpc.ServerCredentials.createInsecure();
  const port = await new Promise<number>((resolve, reject) =>
    server.bindAsync('127.0.0.1:0', credentials, (err, bound) => (err ? reject(err) : resolve(bound))),
  );
  return {
    host: '127.0.0.1',
    port,
    token,
    get unauthenticated() {
      return stats.unauthenticated;
    },
    calls: stats.calls,
    interleaveNextAdd: (secretId, data) => interleaved.set(secretId, data),
    stop: () =>
      new Promise<void>((resolve) => {
        server.tryShutdown(() => resolve());
        setTimeout(() => server.forceShutdown(), 2000).unref();
      }),
  };
}
