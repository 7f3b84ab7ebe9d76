// The `azure-key-vault` store plugin: a Key Vault secret per secret, its pending value in `<name>-rotator-pending`.
import { z } from 'zod';
import { stalePending } from '../../../src/config/fields';
import { RotatorError } from '../../../src/kernel/errors';
import type { StorePlugin } from '../../plugin';
import { cloudL5, literal } from '../cloud-l5';
import type { StoreCapabilities } from '../../types';

/** What Key Vault allows a secret to be called. */
const SECRET_NAME = /^[0-9a-zA-Z-]{1,127}$/;
export const PENDING_SUFFIX = '-rotator-pending';

const AuthSchema = z
  .object({
    /**
     * managed_identity (the default, as the L5 spec has it): the host's identity (client_id picks a user-assigned one);
     * cli: `az login`'s.
     */
    type: z.enum(['managed_identity', 'service_principal', 'cli']).default('managed_identity'),
    tenant_id: z.string().min(1).optional(),
    client_id: z.string().min(1).optional(),
    client_secret: z.string().min(1).optional(),
  })
  .strict()
  .superRefine((a, ctx) => {
    for (const field of ['tenant_id', 'client_id', 'client_secret'] as const) {
      if (a.type === 'service_principal' && a[field] === undefined)
        ctx.addIssue({ code: 'custom', path: [field], message: `auth.type service_principal needs ${field}` });
      const used = a.type === 'service_principal' || (a.type === 'managed_identity' && field === 'client_id');
      if (!used && a[field] !== undefined)
        ctx.addIssue({ code: 'custom', path: [field], message: `is not used by auth.type ${a.type}` });
    }
  });

export const schema = z
  .object({
    type: z.literal('azure-key-vault'),
    /** https://<vault>.vault.azure.net (or a sovereign cloud's, or a private endpoint's name). */
    vault_url: z
      .string()
      .url({ message: 'expected https://<vault>.vault.azure.net' })
      .refine((u) => /^https:\/\//i.test(u), { message: 'expected https://<vault>.vault.azure.net (Key Vault is HTTPS only)' }),
    /** Without it, DefaultAzureCredential: environment, workload identity, managed identity, then the Azure CLI. */
    auth: AuthSchema.optional(),
    stale_pending: stalePending,
  })
  .strict();

export type AzureKeyVaultConfig = z.infer<typeof schema>;

/** Azure Key Vault as the L5 spec writes a secret: an azure-key-vault provider from vault_url and auth, secret_name the path. */
const l5Schema = z
  .object({
    provider: z.literal('azure_key_vault'),
    vault_url: literal(/^https:\/\/[a-z0-9-]+\.vault\.azure\.(net|cn|us)\/?$/i, 'expected https://<vault>.vault.azure.net'),
    secret_name: literal(SECRET_NAME, 'expected a Key Vault secret name (letters, digits and -, at most 127)'),
    version: z.union([z.string().min(1), z.number()], { message: 'expected latest or a version id' }).optional(),
    auth: AuthSchema.optional(),
  })
  .catchall(z.unknown());

/** Why `path` cannot name a Key Vault secret rotator manages, or null. */
export function pathProblem(path: string): string | null {
  if (!SECRET_NAME.test(path))
    return `expected a Key Vault secret name (letters, digits and -, at most 127), got ${JSON.stringify(path)}`;
  if (path.length + PENDING_SUFFIX.length > 127)
    return `${path} is too long: rotator keeps ${path}${PENDING_SUFFIX} beside it, and names stop at 127 characters`;
  if (path.toLowerCase().endsWith(PENDING_SUFFIX))
    return `${path} ends in ${PENDING_SUFFIX}, the name rotator gives to the pending value of ${path.slice(0, -PENDING_SUFFIX.length)}`;
  return null;
}

export function secretNameOf(path: string): string {
  const problem = pathProblem(path);
  if (problem) throw new RotatorError('CONFIG_INVALID', problem, 'path');
  return path;
}

/**
 * `versions`: every Set Secret is a new version, readable by its id. `checkAndSet`: false — Key Vault has no
 * conditional write (no ETag, no If-Match), so promote checks the latest version and then writes, with a window
 * in between that an outside writer can fall into.
 */
export const CAPABILITIES: StoreCapabilities = { writable: true, versions: true, checkAndSet: false };

export const azureKeyVault = {
  schema,
  secretFields: ['auth.client_secret'],
  capabilities: CAPABILITIES,
  l5: cloudL5('azure_key_vault', l5Schema, 'secret_name', 'vault_url'),
  checkPath: pathProblem,
  checkVersion: (version) => (/^[0-9a-f]{32}$/i.test(version) ? null : 'expected a Key Vault version id (32 hex digits)'),
  async create(config) {
    const { AzureKeyVaultStore } = await import('./store');
    const { credentialFor } = await import('./credential');
    return new AzureKeyVaultStore({
      vaultUrl: config.vault_url,
      credential: await credentialFor(config.auth),
      stalePending: config.stale_pending,
    });
  },
} satisfies StorePlugin<AzureKeyVaultConfig>;
