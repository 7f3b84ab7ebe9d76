// A webhook consumer in a real rotation: the receiver (a real HTTP server) verifies the signature and never sees a
// secret value; one that answers 500 fails the reconnect phase, and the rotation rolls back.
import { createHmac, randomBytes, timingSafeEqual } from 'node:crypto';
import { createServer, type IncomingHttpHeaders } from 'node:http';
import type { AddressInfo } from 'node:net';
import { followRotation, startRotation } from '../src/client/rotations';
import { unique } from './support/harness';
import { rolloutScenario, type RolloutScenario } from './support/rollout-scenario';
import { startRotator, type Rotator } from './support/rotator';
import { vaultTestStore } from './support/test-stores';

interface Received {
  headers: IncomingHttpHeaders;
  body: string;
}

let open: Array<{ close(): Promise<void> }> = [];
afterEach(async () => {
  for (const o of open.reverse()) await o.close();
  open = [];
});

async function receiver(status: number): Promise<{ url: string; requests: Received[] }> {
  const requests: Received[] = [];
  const server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      requests.push({ headers: req.headers, body: Buffer.concat(chunks).toString('utf8') });
      res.writeHead(status).end();
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  open.push({ close: () => new Promise<void>((r) => server.close(() => r())) });
  return { url: `http://127.0.0.1:${(server.address() as AddressInfo).port}/rotated`, requests };
}

function verifies(r: Received, key: string): boolean {
  const expected = Buffer.from(
    `v1=${createHmac('sha256', key)
      .update(`${String(r.headers['x-rotator-timestamp'])}.${r.body}`)
      .digest('hex')}`,
  );
  const got = Buffer.from(String(r.headers['x-rotator-signature']));
  return got.length === expected.length && timingSafeEqual(got, expected);
}

async function setUp(status: number): Promise<{ s: RolloutScenario; rotator: Rotator; key: string; requests: Received[] }> {
  const { url, requests } = await receiver(status);
  const key = randomBytes(32).toString('hex');
  const keyName = unique('hook_key');
  const vault = vaultTestStore();
  await vault.write(keyName, { key });
  const s = await rolloutScenario(unique('tq'), {
    deployments: ['api'],
    moreSecrets: [`  ${keyName}:`, '    provider: vault', `    path: ${vault.configPath(keyName)}`],
    moreConsumers: [
      '- type: webhook',
      `  url: ${url}`,
      `  signing_key: secret://${keyName}/key`,
      '  attempts: 3',
      '  backoff: 50ms',
      '  timeout: 2s',
    ],
  });
  open.push(s);
  const rotator = await startRotator(s.yaml, s.env);
  open.push(rotator);
  return { s, rotator, key, requests };
}

it('signs the event; the receiver verifies it, and no secret value reaches it', async () => {
  const { s, rotator, key, requests } = await setUp(200);
  const before = await s.current();
  const { handle } = await startRotation(rotator.client, rotator.config.temporal.task_queue, s.plan);
  const { status } = await followRotation(handle);
  expect(status.outcome).toBe('succeeded');
  expect(requests).toHaveLength(1);
  expect(verifies(requests[0], key)).toBe(true);
  expect(verifies(requests[0], randomBytes(32).toString('hex'))).toBe(false);
  expect(JSON.parse(requests[0].body)).toMatchObject({ secret: s.secret, version: status.version, login: status.username });
  const after = await s.current();
  const everything = JSON.stringify(requests);
  for (const secret of [String(before.value.password), String(after.value.password), key])
    expect(everything).not.toContain(secret);
});

it('a receiver that answers 500 fails the reconnect phase; the rotation rolls back, restarting the Deployment onto the old credential', async () => {
  const { s, rotator, requests } = await setUp(500);
  const before = await s.current();
  const { handle } = await startRotation(rotator.client, rotator.config.temporal.task_queue, s.plan);
  const { status } = await followRotation(handle);
  expect(status.outcome).toBe('rolled-back');
  expect(status.error?.code).toBe('CONSUMER_FAILED');
  expect(requests).toHaveLength(3);
  expect((await s.current()).value.password).toBe(before.value.password);
  expect(await s.logsIn(before.value)).toBe(true);
  expect(s.controller.rolloutsOf('api').map((r) => r.outcome)).toEqual(['complete', 'complete']);
});
