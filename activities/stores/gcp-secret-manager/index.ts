// The `gcp-secret-manager` store plugin: a Secret Manager secret per secret, its pending value in `<id>-rotator-pending`.
import { z } from 'zod';
import { stalePending } from '../../../src/config/fields';
import { RotatorError } from '../../../src/kernel/errors';
import type { StorePlugin } from '../../plugin';
import { cloudL5, literal } from '../cloud-l5';
import type { StoreCapabilities } from '../../types';

/** What Secret Manager allows a secret id to be. */
const SECRET_ID = /^[A-Za-z0-9_-]{1,255}$/;
/** A project id or number. */
const PROJECT = /^[a-z][a-z0-9-]{4,28}[a-z0-9]$|^\d+$/;
export const PENDING_SUFFIX = '-rotator-pending';

const AuthSchema = z
  .object({
    /** workload_identity: Application Default Credentials (GKE workload identity, the metadata server, gcloud's). */
    type: z.enum(['workload_identity', 'service_account']).default('workload_identity'),
    key_file: z.string().min(1).optional(),
  })
  .strict()
  .superRefine((a, ctx) => {
    if (a.type === 'service_account' && !a.key_file)
      ctx.addIssue({ code: 'custom', path: ['key_file'], message: 'auth.type service_account needs key_file' });
    if (a.type !== 'service_account' && a.key_file)
      ctx.addIssue({ code: 'custom', path: ['key_file'], message: `is not used by auth.type ${a.type}` });
  });

/** `host:port` (TLS and Google auth: a regional or private endpoint) or `http://host:port` (plaintext, no auth: an emulator). */
const ENDPOINT = /^(http:\/\/)?([A-Za-z0-9.-]+|\[[0-9a-fA-F:]+\])(:(\d{1,5}))?$/;

export const schema = z
  .object({
    type: z.literal('gcp-secret-manager'),
    project: z.string().regex(PROJECT, { message: 'expected a GCP project id or number' }),
    /** Without it, Application Default Credentials. */
    auth: AuthSchema.optional(),
    endpoint: z
      .string()
      .regex(ENDPOINT, { message: 'expected host:port (TLS) or http://host:port (an emulator, plaintext)' })
      .optional(),
    stale_pending: stalePending,
  })
  .strict();

export type GcpSecretManagerConfig = z.infer<typeof schema>;

/** GCP Secret Manager as the L5 spec writes a secret: a gcp-secret-manager provider from project and auth, secret the path. */
const l5Schema = z
  .object({
    provider: z.literal('gcp_secret_manager'),
    project: literal(PROJECT, 'expected a GCP project id or number'),
    secret: literal(SECRET_ID, 'expected a Secret Manager secret id (letters, digits, _ and -)'),
    version: z
      .union([z.string(), z.number()])
      .refine((v) => v === 'latest' || /^[1-9]\d*$/.test(String(v)), { message: 'expected latest or a version number' })
      .optional(),
    auth: AuthSchema.optional(),
  })
  .catchall(z.unknown());

/** Why `path` cannot name a secret rotator manages, or null. */
export function pathProblem(path: string): string | null {
  if (!SECRET_ID.test(path))
    return `expected a Secret Manager secret id (letters, digits, _ and -, at most 255), got ${JSON.stringify(path)}`;
  if (path.length + PENDING_SUFFIX.length > 255)
    return `${path} is too long: rotator keeps ${path}${PENDING_SUFFIX} beside it, and ids stop at 255 characters`;
  if (path.endsWith(PENDING_SUFFIX))
    return `${path} ends in ${PENDING_SUFFIX}, the id rotator gives to the pending value of ${path.slice(0, -PENDING_SUFFIX.length)}`;
  return null;
}

export function secretIdOf(path: string): string {
  const problem = pathProblem(path);
  if (problem) throw new RotatorError('CONFIG_INVALID', problem, 'path');
  return path;
}

export function endpointOf(endpoint: string): { apiEndpoint: string; port?: number; plaintext: boolean } {
  const m = ENDPOINT.exec(endpoint);
  if (!m) throw new RotatorError('CONFIG_INVALID', 'expected host:port or http://host:port', 'endpoint');
  return { apiEndpoint: m[2]!, ...(m[4] ? { port: Number(m[4]) } : {}), plaintext: !!m[1] };
}

/**
 * `versions`: versions are numbered and stay readable until disabled. `checkAndSet`: false — AddSecretVersion
 * takes no condition. Version numbers are sequential, so promote detects a write that landed between its check and
 * its own (and puts that writer's value back on top), but readers may see this rotation's value in between.
 */
export const CAPABILITIES: StoreCapabilities = { writable: true, versions: true, checkAndSet: false };

export const gcpSecretManager = {
  schema,
  capabilities: CAPABILITIES,
  l5: cloudL5('gcp_secret_manager', l5Schema, 'secret', 'project'),
  checkPath: pathProblem,
  checkVersion: (version) =>
    /^[1-9]\d{0,17}$/.test(version) ? null : 'expected a positive whole number (Secret Manager versions count from 1)',
  async create(config) {
    const { GcpSecretManagerStore } = await import('./store');
    const at = config.endpoint ? endpointOf(config.endpoint) : null;
    const plaintext = at?.plaintext ? { sslCreds: (await import('@grpc/grpc-js')).credentials.createInsecure() } : {};
    return new GcpSecretManagerStore({
      project: config.project,
      ...(config.auth?.key_file ? { keyFilename: config.auth.key_file } : {}),
      ...(at ? { apiEndpoint: at.apiEndpoint, ...(at.port ? { port: at.port } : {}) } : {}),
      ...plaintext,
      stalePending: config.stale_pending,
    });
  },
} satisfies StorePlugin<GcpSecretManagerConfig>;
