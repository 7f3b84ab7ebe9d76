// The Entra ID credential an azure-key-vault provider's `auth:` names; @azure/identity is loaded only here.
import type { SecretClient } from '@azure/keyvault-secrets';
import type { AzureKeyVaultConfig } from './index';

export async function credentialFor(auth: AzureKeyVaultConfig['auth']): Promise<ConstructorParameters<typeof SecretClient>[1]> {
  const identity = await import('@azure/identity');
  switch (auth?.type) {
    case undefined:
      return new identity.DefaultAzureCredential();
    case 'managed_identity':
      return auth.client_id
        ? new identity.ManagedIdentityCredential({ clientId: auth.client_id })
        : new identity.ManagedIdentityCredential();
    case 'service_principal':
      return new identity.ClientSecretCredential(auth.tenant_id!, auth.client_id!, auth.client_secret!);
    case 'cli':
      return new identity.AzureCliCredential();
  }
}
