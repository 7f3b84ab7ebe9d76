// A worker start-up that fails after the metrics port is bound releases the port: a bad tracing setting ends
// `rotator worker` with its own error, and the next start on the same address binds again. No server needed: it fails
// before the worker connects to anything.
import { mkdtempSync, writeFileSync } from 'node:fs';
import * as net from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { runWorker } from '../workers/main';

/** A port free a moment ago on 127.0.0.1. */
async function freePort(): Promise<number> {
  const server = net.createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as net.AddressInfo;
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return port;
}

/** Whether something still listens on the port (a connection is accepted). */
function listening(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = net.connect(port, '127.0.0.1');
    socket.once('connect', () => {
      socket.destroy();
      resolve(true);
    });
    socket.once('error', () => resolve(false));
  });
}

describe('worker start-up', () => {
  const saved = { ...process.env };
  afterEach(() => {
    process.env = { ...saved };
  });

  it('closes the metrics server it bound when tracing cannot be set up, so the address is free again', async () => {
    const file = join(mkdtempSync(join(tmpdir(), 'rotator-startup-')), 'rotator.yaml');
    writeFileSync(file, 'secrets:\n  app: { provider: vault, path: secret/data/app }\n', { mode: 0o600 });
    Object.assign(process.env, {
      VAULT_ADDR: 'http://127.0.0.1:1',
      VAULT_TOKEN: 'dev-token-for-startup',
      ROTATOR_TRACES_EXPORTER: 'carrier-pigeon',
    });
    const port = await freePort();
    await expect(runWorker(file, { metricsAddress: `127.0.0.1:${port}` })).rejects.toMatchObject({
      code: 'CONFIG_INVALID',
      path: 'ROTATOR_TRACES_EXPORTER',
    });
    expect(await listening(port)).toBe(false);
  });
});
