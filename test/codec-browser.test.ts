// The Temporal Web UI in a real headless Chromium, decoding a finished rotation through `rotator codec-server`:
// the plan is readable in the operator's browser (codec endpoint with the token), and only ciphertext is shown
// without the token or with a wrong one. A Temporal dev server of its own (UI on, --ui-codec-endpoint pointing at the
// codec server without a token), a real worker on it, Vault and PostgreSQL from the shared stack.
import { execFile } from 'node:child_process';
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import { randomBytes } from 'node:crypto';
import { Client, Connection } from '@temporalio/client';
import { AesGcmCodec } from '../src/client/codec/aes-gcm-codec';
import { getDataConverter } from '../src/client/codec/data-converter';
import { followRotation, startRotation } from '../src/client/rotations';
import { startCodecServer, type CodecServer } from '../src/codec-server/server';
import { parseConfig } from '../src/config/load';
import { createLogger } from '../src/kernel/log';
import { planRotation } from '../src/config/plan';
import { toolPath } from '../src/stack/local-stack';
import { createRotatorWorker, type RotatorWorker } from '../workers/worker';
import { seedAdmin, testCodecKeys, testEnv, unique, workflowBundle } from './support/harness';
import { rotatorYaml } from './support/rotator-config';
import { vaultTestStore } from './support/test-stores';
import { browse, type ScenarioResult } from './support/ui-browser';
import { freePorts } from '../src/stack/service';
import { startUiDevServer, type UiDevServer } from './support/ui-dev-server';
import { connectTemporal } from '../src/client/temporal';

const ARTIFACTS = join(__dirname, '..', 'test-artifacts');
const TOKEN = randomBytes(32).toString('hex');
const SETUP_TIMEOUT_MS = 180_000;

describe('the Temporal UI with rotator codec-server, in headless Chromium', () => {
  const keys = testCodecKeys();
  const secret = unique('db');
  const role = unique('app');
  const logLines: string[] = [];
  let codec: CodecServer;
  let dev: UiDevServer;
  let worker: RotatorWorker;
  let running: Promise<void>;
  let connection: Connection;
  let workflowPage: string;
  let workflowId: string;
  /** The start of the input payload's ciphertext as history holds it (base64), what the UI shows undecoded. */
  let ciphertext: string;

  beforeAll(async () => {
    const [uiPort] = await freePorts(1);
    const uiOrigin = `http://127.0.0.1:${uiPort}`;
    const destination = new Writable({
      write(chunk: Buffer, _enc, done) {
        logLines.push(chunk.toString('utf8'));
        done();
      },
    });
    codec = await startCodecServer({
      codec: new AesGcmCodec({ ...keys, allowPlaintext: true }),
      token: TOKEN,
      corsOrigins: [uiOrigin],
      host: '127.0.0.1',
      port: 0,
      log: createLogger(destination),
    });
    // The cluster-wide setting every UI user sees holds no token: only an operator's own browser setting does.
    dev = await startUiDevServer({ codecEndpoint: codec.url, uiPort });
    console.log(`temporal dev server with UI ready in ${dev.startupMs} ms (${dev.uiUrl})`);

    const taskQueue = unique('tq');
    const adminPath = `test/${unique('pg_admin')}`;
    await seedAdmin(adminPath);
    const store = vaultTestStore();
    const yaml = rotatorYaml({
      temporalAddress: dev.address,
      taskQueue,
      provider: { name: 'vault', yaml: store.providerYaml },
      admin: { name: 'pg_admin', path: `secret/data/${adminPath}` },
      secrets: [
        {
          name: secret,
          path: store.configPath(secret),
          type: 'postgresql',
          target: [`role: ${role}`],
          rotation: ['strategy: alternating-users', 'drain: { timeout: 2s }'],
        },
      ],
    });
    const config = parseConfig(yaml, testEnv());
    const dataConverter = getDataConverter(keys);
    worker = await createRotatorWorker({ config, dataConverter, workflowBundle: await workflowBundle(), logLevel: 'ERROR' });
    running = worker.worker.run();
    connection = await connectTemporal({ address: dev.address });
    const client = new Client({ connection, namespace: config.temporal.namespace, dataConverter });
    const { handle } = await startRotation(client, taskQueue, planRotation(config, secret));
    const outcome = await followRotation(handle);
    expect(outcome.status.outcome).toBe('succeeded');
    const runId = (await handle.describe()).runId;

    // The raw history, read without the codec: what the Temporal server itself holds.
    const history = await connection.workflowService.getWorkflowExecutionHistory({
      namespace: config.temporal.namespace,
      execution: { workflowId: handle.workflowId, runId },
    });
    const input = history.history!.events![0].workflowExecutionStartedEventAttributes!.input!.payloads![0];
    expect(Buffer.from(input.metadata!.encoding!).toString()).toBe('binary/encrypted');
    expect(Buffer.from(input.data!).toString('utf8')).not.toContain(secret);
    ciphertext = Buffer.from(input.data!).toString('base64').slice(0, 40);

    workflowId = handle.workflowId;
    workflowPage = `${dev.uiUrl}/namespaces/default/workflows/${encodeURIComponent(handle.workflowId)}/${runId}/history`;
    mkdirSync(ARTIFACTS, { recursive: true });
  }, SETUP_TIMEOUT_MS);

  afterAll(async () => {
    await connection?.close();
    if (worker) {
      worker.worker.shutdown();
      await running;
      await worker.close();
    }
    await dev?.stop();
    await codec?.close();
  }, SETUP_TIMEOUT_MS);

  /**
   * Opens the rotation in Chromium. `codecEndpoint` is what the operator sets in the UI's "Codec Server" settings
   * ("use my browser setting"), which the UI keeps in the browser's localStorage; undefined leaves the cluster's
   * --ui-codec-endpoint in force.
   */
  async function open(name: string, codecEndpoint: string | undefined, waitFor: string): Promise<ScenarioResult> {
    const screenshot = join(ARTIFACTS, `codec-browser-${name}.png`);
    const [result] = await browse({
      url: workflowPage,
      codecUrl: codec.url,
      scenarios: [{ name, ...(codecEndpoint !== undefined ? { codecEndpoint } : {}), waitFor, screenshot }],
    });
    console.log(`screenshot (${name}): ${screenshot}`);
    return result;
  }

  it('shows the decoded plan to the browser whose codec endpoint carries the token', async () => {
    const page = await open('decoded', `${codec.url}/${TOKEN}`, `"secret": "${secret}"`);
    expect({ error: page.error, statuses: [...new Set(page.codecStatuses)] }).toEqual({ error: undefined, statuses: [200] });
    expect(page.text).toContain(`"secret": "${secret}"`);
    expect(page.text).toContain('"strategy": "alternating-users"');
    expect(page.text).toContain(`"login": "${role}"`);
    expect(page.text).not.toContain(ciphertext);
  });

  it.each([
    ['without the token (the cluster-wide endpoint)', 'encrypted-no-token', undefined],
    ['with a wrong token', 'encrypted-wrong-token', `${TOKEN.slice(0, -4)}beef`],
  ])('shows only the encrypted payloads %s', async (_label, name, wrongToken) => {
    // The UI falls back to the payload as history holds it: the ciphertext, base64.
    const page = await open(name, wrongToken === undefined ? undefined : `${codec.url}/${wrongToken}`, ciphertext);
    expect({ error: page.error, statuses: [...new Set(page.codecStatuses)] }).toEqual({ error: undefined, statuses: [401] });
    expect(page.text).toContain(ciphertext);
    expect(page.text).not.toContain(`"secret": "${secret}"`);
    expect(page.text).not.toContain('"strategy": "alternating-users"');
    expect(page.text).not.toContain(`"login": "${role}"`);
    expect(page.text).toContain('Codec Server could not connect');
  });

  it('decodes the same rotation for the Temporal CLI with the token in TEMPORAL_CODEC_AUTH, and not without', async () => {
    const show = (auth: string | undefined) =>
      new Promise<{ code: number | null; output: string }>((resolve) => {
        execFile(
          toolPath('temporal'),
          [
            'workflow',
            'show',
            '--workflow-id',
            workflowId,
            '--address',
            dev.address,
            '--codec-endpoint',
            codec.url,
            '-o',
            'json',
          ],
          // In the environment, not argv, where any local user could read it.
          { env: { ...process.env, ...(auth !== undefined ? { TEMPORAL_CODEC_AUTH: auth } : {}) }, timeout: 30_000 },
          (err, stdout, stderr) =>
            resolve({ code: err ? ((err as { code?: number }).code ?? -1) : 0, output: `${stdout}${stderr}` }),
        );
      });
    /** The started event's input payload as the CLI printed it (proto JSON, base64 fields), decoded to text. */
    const input = (output: string): { encoding: string; data: string } | null => {
      try {
        const events = (JSON.parse(output) as { events: Array<Record<string, unknown>> }).events;
        const started = events[0].workflowExecutionStartedEventAttributes as {
          input: { payloads: Array<{ metadata: { encoding: string }; data: string }> };
        };
        const [payload] = started.input.payloads;
        const text = (b64: string) => Buffer.from(b64, 'base64').toString('utf8');
        return { encoding: text(payload.metadata.encoding), data: text(payload.data) };
      } catch {
        return null;
      }
    };
    const decoded = await show(`Bearer ${TOKEN}`);
    expect(decoded.code).toBe(0);
    const plain = input(decoded.output);
    expect(plain?.encoding).toBe('json/plain');
    expect(JSON.parse(plain!.data)).toMatchObject({ plan: { secret, login: role, strategy: 'alternating-users' } });
    // Refused by the codec server, the CLI retries until its deadline and gives up, showing nothing of the plan.
    const refusals = await Promise.all([show(undefined), show(`Bearer ${TOKEN.slice(0, -4)}beef`)]);
    for (const refused of refusals) {
      expect(refused.code).toBe(1);
      expect(refused.output).toContain('context deadline exceeded');
      expect(refused.output).not.toContain(role);
      expect(input(refused.output)).toBeNull();
    }
  });

  it('logged every request without the token or a payload', () => {
    const lines = logLines.map((l) => JSON.parse(l) as Record<string, unknown>);
    expect(lines.some((l) => l.status === 200 && l.operation === 'decode')).toBe(true);
    expect(lines.some((l) => l.status === 401)).toBe(true);
    const all = logLines.join('\n');
    expect(all).not.toContain(TOKEN);
    expect(all).not.toContain(secret);
  });
});
