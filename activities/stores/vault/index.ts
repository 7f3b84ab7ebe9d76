// The `vault` store plugin: Vault or OpenBao KV v2 (versions are history, check-and-set writes, custom metadata).
import { z } from 'zod';
import { duration, httpUrl, stalePending } from '../../../src/config/fields';
import { RotatorError } from '../../../src/kernel/errors';
import type { StorePlugin } from '../../plugin';
import { l5 } from './l5';
import type { StoreCapabilities } from '../../types';

/** How the worker gets its Vault token: given to it (`token`), or by logging in with one of the auth methods. */
export const AUTH_METHODS = ['token', 'approle', 'kubernetes', 'aws'] as const;
type AuthMethod = (typeof AUTH_METHODS)[number];
const AUTH_FIELDS = ['role', 'role_id', 'secret_id', 'mount', 'jwt_path'] as const;
/** The fields each method needs, and those it may take besides. */
const METHOD_FIELDS: Record<AuthMethod, { needs: ReadonlyArray<string>; takes: ReadonlyArray<string> }> = {
  token: { needs: [], takes: [] },
  approle: { needs: ['role_id', 'secret_id'], takes: ['mount'] },
  /** `jwt_path`: the service account token to log in with (the pod's own by default). */
  kubernetes: { needs: ['role'], takes: ['mount', 'jwt_path'] },
  /** Without `role`, Vault takes the role named like the IAM principal. */
  aws: { needs: [], takes: ['role', 'mount'] },
};

/**
 * The L5 spec's `auth:` block. `token` uses the provider's token; `approle` and `kubernetes` log in for one
 * (auth.ts), which the worker replaces before it expires; `aws` is checked here but refused when a store starts
 * (UNSUPPORTED) until IAM login is implemented.
 */
const AuthSchema = z
  .object({
    method: z.enum(AUTH_METHODS).default('token'),
    role: z.string().min(1).optional(),
    role_id: z.string().min(1).optional(),
    secret_id: z.string().min(1).optional(),
    /**
     * Where the auth method is mounted, when not at its own name (auth/approle, auth/kubernetes, auth/aws): `name` or
     * `auth/name`. It goes into the login's URL path, so only plain segments.
     */
    mount: z
      .string()
      .regex(/^(auth\/)?[\w-][\w.-]*(\/[\w-][\w.-]*)*$/, {
        message: 'expected a mount path like approle or auth/approle-prod (letters, digits, _ . -)',
      })
      .optional(),
    jwt_path: z.string().min(1).optional(),
  })
  .strict()
  .superRefine((auth, ctx) => {
    const { needs, takes } = METHOD_FIELDS[auth.method];
    for (const field of AUTH_FIELDS) {
      if (needs.includes(field) && auth[field] === undefined)
        ctx.addIssue({ code: 'custom', path: [field], message: `auth.method ${auth.method} needs ${field}` });
      if (auth[field] !== undefined && !needs.includes(field) && !takes.includes(field))
        ctx.addIssue({ code: 'custom', path: [field], message: `is not used by auth.method ${auth.method}` });
    }
  });

export const schema = z
  .object({
    type: z.literal('vault'),
    address: httpUrl,
    /** '' when `auth.method` is not token: the worker logs in for its token (auth.ts). */
    token: z.string().default(''),
    auth: AuthSchema.optional(),
    namespace: z.string().optional(),
    /** Where pending credentials wait before promotion; kept apart so readers of a secret never see one. */
    pending_prefix: z.string().default('rotator-pending'),
    stale_pending: stalePending,
    /**
     * The L5 `renewal:` block for rotator's own token: the worker renews it at 2/3 of its TTL by `increment`. A login's
     * token is replaced by a new login when it cannot be renewed further, and with renewal off, at 2/3 of its TTL.
     */
    renewal: z
      .object({ enabled: z.boolean().default(true), increment: duration.default(3_600_000) })
      .strict()
      .optional(),
  })
  .strict()
  .superRefine((p, ctx) => {
    const method = p.auth?.method ?? 'token';
    if (method === 'token' && !p.token)
      ctx.addIssue({ code: 'custom', path: ['token'], message: 'expected a token (use ${VAULT_TOKEN})' });
    if (method !== 'token' && p.token)
      ctx.addIssue({
        code: 'custom',
        path: ['token'],
        message: `auth.method ${method} logs in for its own token: set one or the other`,
      });
  });

export interface KvPath {
  data: string;
  metadata: string;
  pendingData: string;
  pendingMetadata: string;
}

/** Accepts `secret/data/app/db` (as the HTTP API spells it) or `secret/app/db`. */
export function parseKvPath(path: string, pendingPrefix: string): KvPath {
  const parts = path.replace(/^\/+|\/+$/g, '').split('/');
  const mount = parts[0];
  const segments = parts[1] === 'data' ? parts.slice(2) : parts.slice(1);
  const rest = segments.join('/');
  if (!mount || !rest)
    throw new RotatorError('CONFIG_INVALID', `expected <mount>/data/<path>, got ${JSON.stringify(path)}`, 'path');
  // Vault resolves `..`, so such a path would read and write outside the secret it names.
  if ([mount, ...segments].some((seg) => seg === '' || seg === '.' || seg === '..'))
    throw new RotatorError(
      'CONFIG_INVALID',
      `expected plain path segments (no empty, . or ..), got ${JSON.stringify(path)}`,
      'path',
    );
  return {
    data: `${mount}/data/${rest}`,
    metadata: `${mount}/metadata/${rest}`,
    pendingData: `${mount}/data/${pendingPrefix}/${rest}`,
    pendingMetadata: `${mount}/metadata/${pendingPrefix}/${rest}`,
  };
}

export const CAPABILITIES: StoreCapabilities = { writable: true, versions: true, checkAndSet: true };

export type VaultConfig = z.infer<typeof schema>;

/** The provider's session (its token, or its login shared with the worker's other users of it), logged in. */
async function readySession(config: VaultConfig) {
  const { vaultSession } = await import('./auth');
  const session = vaultSession(config);
  try {
    await session.ready(); // a wrong or expired login fails here, naming the method and mount
  } catch (err) {
    session.release();
    throw err;
  }
  return session;
}

export const vault = {
  schema,
  secretFields: ['token', 'auth.secret_id'],
  capabilities: CAPABILITIES,
  l5,
  builtIn: { type: 'vault', address: '${VAULT_ADDR:-http://127.0.0.1:8200}', token: '${VAULT_TOKEN}' },
  checkVersion: (version) =>
    /^[1-9]\d{0,15}$/.test(version) ? null : 'expected a positive whole number (KV v2 versions count from 1)',
  checkPath(path) {
    try {
      parseKvPath(path, 'rotator-pending');
      return null;
    } catch (err) {
      return (err as Error).message.replace(/^path: /, '');
    }
  },
  preflight: async (config, path) => (await import('./preflight')).preflight(config, path),
  async leaseEngine(config) {
    // The provider's token, or its login shared with its store and the worker's renewer.
    const session = await readySession(config);
    const { VaultDatabaseEngine } = await import('./lease-engine');
    return new VaultDatabaseEngine({
      address: config.address,
      token: session,
      ...(config.namespace ? { namespace: config.namespace } : {}),
      release: () => session.release(),
    });
  },
  keepAlive: async (config) => (await import('./keep-alive')).keepAlive(config),
  async create(config) {
    const session = await readySession(config);
    const { VaultKvStore } = await import('./store');
    return new VaultKvStore({
      address: config.address,
      token: session,
      pendingPrefix: config.pending_prefix,
      stalePending: config.stale_pending,
      ...(config.namespace ? { namespace: config.namespace } : {}),
    });
  },
} satisfies StorePlugin<VaultConfig>;
