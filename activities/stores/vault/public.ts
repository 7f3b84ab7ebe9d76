// What other layers may use of the vault store plugin besides its index: the worker's Vault session and its client,
// and the database engine that issues its leased credentials.
export { vaultSession, type VaultSession } from './auth';
export { currentToken, vaultClient, type VaultConnection } from './client';
export { TokenRenewer } from './token-renewal';
export { VaultDatabaseEngine } from './lease-engine';
