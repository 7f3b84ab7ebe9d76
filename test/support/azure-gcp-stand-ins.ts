// The Azure Key Vault and GCP Secret Manager stand-ins (test/support/fake-*.ts) started over TLS with a certificate of
// the test's own, and the stores built on them through the official SDKs: shared by test/azure-gcp-stores.unit.test.ts
// (the store contract, no server) and test/azure-gcp-keep-fields.test.ts (rotations against the stack's databases).
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as grpc from '@grpc/grpc-js';
import { AzureKeyVaultStore, type AzureKeyVaultOptions } from '../../activities/stores/azure-key-vault/store';
import { GcpSecretManagerStore, type GcpSecretManagerOptions } from '../../activities/stores/gcp-secret-manager/store';
import type { StalePendingOptions } from '../../activities/stores/stale-pending';
import type { SecretStore } from '../../activities/types';
import { startFakeKeyVault, type FakeKeyVault } from './fake-azure-key-vault';
import { startFakeSecretManager, type FakeSecretManager } from './fake-gcp-secret-manager';

export const PROJECT = 'rotator-test';

/** A self-signed certificate for 127.0.0.1, which the clients are told to trust (it is its own CA). */
function selfSigned(): { key: string; cert: string } {
  const dir = mkdtempSync(join(tmpdir(), 'rotator-fake-tls-'));
  try {
    const res = spawnSync(
      'openssl',
      [
        'req',
        '-x509',
        '-newkey',
        'ec',
        '-pkeyopt',
        'ec_paramgen_curve:prime256v1',
        '-nodes',
        '-days',
        '1',
        '-subj',
        '/CN=127.0.0.1',
        '-addext',
        'subjectAltName=IP:127.0.0.1,DNS:localhost',
        '-keyout',
        'key.pem',
        '-out',
        'cert.pem',
      ],
      { cwd: dir, encoding: 'utf8' },
    );
    if (res.status !== 0) throw new Error(`openssl failed: ${res.stderr}`);
    return { key: readFileSync(join(dir, 'key.pem'), 'utf8'), cert: readFileSync(join(dir, 'cert.pem'), 'utf8') };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

export const tls = selfSigned();

/** Started once for the file, on first use (the contract suite builds its store in its own beforeAll). */
function once<T>(start: () => Promise<T>): () => Promise<T> {
  let started: Promise<T> | undefined;
  return () => (started ??= start());
}
export const keyVault = once(() => startFakeKeyVault(tls));
export const secretManager = once(() => startFakeSecretManager({ project: PROJECT, tls }));
const opened: SecretStore[] = [];

/** Closes every store opened here and stops the fakes: call it in the test file's afterAll. */
export async function stopStandIns(): Promise<void> {
  for (const s of opened.splice(0)) await s.close();
  await (await keyVault()).stop();
  await (await secretManager()).stop();
}

// -- Azure Key Vault ------------------------------------------------------------------------------------------------

/** What the SDK asks a credential for; the fake accepts only its own token. */
export const tokenCredential = (token: string) => ({
  getToken: async () => ({ token, expiresOnTimestamp: Date.now() + 3_600_000 }),
});

/** The fake is not under vault.azure.net, and its certificate is the test's own: both told to the SDK. */
export const kvClientOptions = { disableChallengeResourceVerification: true, tlsOptions: { ca: tls.cert } };

export function azureStore(kv: FakeKeyVault, options: StalePendingOptions = {}, token = kv.token): AzureKeyVaultStore {
  const o: AzureKeyVaultOptions = {
    vaultUrl: kv.url,
    credential: tokenCredential(token),
    clientOptions: kvClientOptions,
    ...options,
  };
  const store = new AzureKeyVaultStore(o);
  opened.push(store);
  return store;
}

// -- GCP Secret Manager --------------------------------------------------------------------------------------------

/** TLS trusting the test's certificate, and the fake's token as call credentials (as ADC would add one). */
export function gcpCredentials(token: string | null): grpc.ChannelCredentials {
  const channel = grpc.credentials.createSsl(Buffer.from(tls.cert));
  if (token === null) return channel;
  return grpc.credentials.combineChannelCredentials(
    channel,
    grpc.credentials.createFromMetadataGenerator((_params, callback) => {
      const metadata = new grpc.Metadata();
      metadata.set('authorization', `Bearer ${token}`);
      callback(null, metadata);
    }),
  );
}

export function gcpStore(
  sm: FakeSecretManager,
  options: StalePendingOptions = {},
  token: string | null = sm.token,
): GcpSecretManagerStore {
  const o: GcpSecretManagerOptions = {
    project: PROJECT,
    apiEndpoint: sm.host,
    port: sm.port,
    sslCreds: gcpCredentials(token),
    ...options,
  };
  const store = new GcpSecretManagerStore(o);
  opened.push(store);
  return store;
}
