// "A rotation keeps every field it does not own" (test/contract/store-contract.ts) for the azure-key-vault and
// gcp-secret-manager stores on their stand-ins (no real service installs here; test/support/fake-*.ts), rotating
// against the stack's PostgreSQL and Redis. The rest of their contract needs no server: test/azure-gcp-stores.unit.test.ts.
import { randomBytes } from 'node:crypto';
import { describeKeepsFieldsContract } from './contract/store-contract';
import { azureStore, gcpStore, keyVault, secretManager, stopStandIns } from './support/azure-gcp-stand-ins';

const hex = () => randomBytes(4).toString('hex');

afterAll(() => stopStandIns());

describeKeepsFieldsContract('azure-key-vault', async () => {
  const kv = await keyVault();
  return { store: azureStore(kv), open: (options) => azureStore(kv, options), path: () => `keep-${hex()}` };
});

describeKeepsFieldsContract('gcp-secret-manager', async () => {
  const sm = await secretManager();
  return { store: gcpStore(sm), open: (options) => gcpStore(sm, options), path: () => `keep-${hex()}` };
});
