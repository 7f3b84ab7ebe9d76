// Every store plugin, by the `type:` a provider block names. Adding a store: its folder here, one line in this map.
import type { AnyStorePlugin, StorePlugin } from '../plugin';
import { awsParameterStore } from './aws-parameter-store';
import { awsSecretsManager } from './aws-secrets-manager';
import { azureKeyVault } from './azure-key-vault';
import { env } from './env';
import { file } from './file';
import { gcpSecretManager } from './gcp-secret-manager';
import { kubernetes } from './kubernetes';
import { sops } from './sops';
import { vault } from './vault';

export const STORES = {
  vault,
  env,
  file,
  'aws-secrets-manager': awsSecretsManager,
  'aws-parameter-store': awsParameterStore,
  kubernetes,
  'azure-key-vault': azureKeyVault,
  'gcp-secret-manager': gcpSecretManager,
  sops,
} satisfies Record<string, AnyStorePlugin>;

export type StoreType = keyof typeof STORES;
export type StoreSchema = (typeof STORES)[StoreType]['schema'];

/** The plugin for a provider block; typed loosely because TypeScript cannot tie a map entry to its own config type. */
export function storePlugin<C extends { type: string }>(config: C): StorePlugin<C> {
  return STORES[config.type as StoreType] as unknown as StorePlugin<C>;
}
