// Each store plugin spells its own L5 secrets (its `l5`); src/config/l5.ts keeps only what every store shares.
import { normalizeL5 } from '../../src/config/l5';
import { issuesOf } from '../../src/config/load';
import type { AnyStorePlugin } from '../plugin';
import { STORES } from '.';
import { azureKeyVault } from './azure-key-vault';
import { gcpSecretManager } from './gcp-secret-manager';

const normalize = (secret: Record<string, unknown>) => normalizeL5({ secrets: { s: secret } }, issuesOf);

describe('a store plugin’s L5 spelling', () => {
  const spelled = Object.entries(STORES as Record<string, AnyStorePlugin>).flatMap(([type, p]) =>
    p.l5 ? [[p.l5.provider, type] as const] : [],
  );

  it('is what the spec’s provider: names map to', () => {
    expect(Object.fromEntries(spelled)).toEqual({
      vault: 'vault',
      env: 'env',
      aws_secrets_manager: 'aws-secrets-manager',
      aws_parameter_store: 'aws-parameter-store',
      kubernetes: 'kubernetes',
      azure_key_vault: 'azure-key-vault',
      gcp_secret_manager: 'gcp-secret-manager',
    });
  });

  it.each([
    ['aws_secrets_manager', { secret_id: 'prod/db', region: 'eu-west-1' }, 'prod/db', 'aws-secrets-manager'],
    ['aws_parameter_store', { name: '/prod/db', region: 'eu-west-1' }, '/prod/db', 'aws-parameter-store'],
    ['azure_key_vault', { vault_url: 'https://kv.vault.azure.net', secret_name: 'db' }, 'db', 'azure-key-vault'],
    ['gcp_secret_manager', { project: 'my-project', secret: 'db' }, 'db', 'gcp-secret-manager'],
    ['env', { variable: 'DB', default: 'x' }, 'DB', 'env'],
  ])('translates %s: its location becomes path, its connection a provider of its type', (provider, fields, path, type) => {
    const n = normalize({ provider, ...fields });
    expect(n.issues).toEqual([]);
    const doc = n.document as { secrets: { s: { path: string; provider: string } }; providers: Record<string, { type: string }> };
    expect(doc.secrets.s.path).toBe(path);
    expect(doc.providers[doc.secrets.s.provider]?.type).toBe(type);
  });

  it('Azure and GCP auth: one schema, in the plugin, with the spec’s default type in both forms', () => {
    // L5 form: the default applied in the provider block it makes.
    const azure = normalize({
      provider: 'azure_key_vault',
      vault_url: 'https://kv.vault.azure.net',
      secret_name: 'db',
      auth: {},
    });
    const providers = (azure.document as { providers: Record<string, { auth?: { type: string } }> }).providers;
    expect(Object.values(providers)[0]?.auth).toEqual({ type: 'managed_identity' });
    // rotator's form: the same default.
    const block = azureKeyVault.schema.parse({
      type: 'azure-key-vault',
      vault_url: 'https://kv.vault.azure.net',
      auth: { client_id: 'c' },
    });
    expect(block.auth).toEqual({ type: 'managed_identity', client_id: 'c' });
    expect(gcpSecretManager.schema.parse({ type: 'gcp-secret-manager', project: 'my-project', auth: {} }).auth).toEqual({
      type: 'workload_identity',
    });
    // Its checks hold in both forms: a service principal needs its three fields.
    const bad = normalize({
      provider: 'azure_key_vault',
      vault_url: 'https://kv.vault.azure.net',
      secret_name: 'db',
      auth: { type: 'service_principal' },
    });
    expect(bad.issues.map((i) => i.path)).toEqual([
      'secrets.s.auth.tenant_id',
      'secrets.s.auth.client_id',
      'secrets.s.auth.client_secret',
    ]);
  });
});
