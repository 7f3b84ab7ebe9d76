// The embedded local stack made ready for examples/rotator.yaml: a codec key, the environment, the admin credential.
import { join } from 'node:path';
import vault from 'node-vault';
import { ensureLocalKeyFile } from '../client/codec/aes-gcm-codec';
import type { LocalStack } from './local-stack';

/** Where examples/rotator.yaml expects the PostgreSQL admin credential. */
export const EXAMPLE_ADMIN_PATH = 'secret/data/prod/pg-admin';

/**
 * The environment that points examples/rotator.yaml (and the CLI, and a worker) at `stack`, after storing the
 * stack's PostgreSQL superuser in OpenBao where the example's admin secret says. The key file is created 0600.
 */
export async function prepareExampleStack(stack: LocalStack): Promise<Record<string, string>> {
  const pg = stack.postgres!;
  const kv = vault({ apiVersion: 'v1', endpoint: stack.vault!.address, token: stack.vault!.token });
  await kv.write(EXAMPLE_ADMIN_PATH, {
    data: { username: pg.user, password: pg.password, host: pg.host, port: pg.port, dbname: pg.database, engine: 'postgres' },
  });
  return {
    TEMPORAL_ADDRESS: stack.temporal!.address,
    VAULT_ADDR: stack.vault!.address,
    VAULT_TOKEN: stack.vault!.token,
    ROTATOR_CODEC_KEY_FILE: ensureLocalKeyFile(join(stack.dir, 'codec.key')),
  };
}
