// Real Temporal clusters: TLS, mTLS and API keys, through a TLS-terminating gRPC proxy (nginx) in front of the dev
// server, which speaks only plaintext. The proxy is the stand-in for a TLS-enabled frontend; the certificates and
// the key checks are real.
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { EXIT } from '../src/cli/main';
import { cli } from './support/cli';
import { codecKeyEnv, testCodecKeys, unique } from './support/harness';
import { startRotator } from './support/rotator';
import { postgresScenario } from './support/rotation-scenarios';
import { testStack } from './support/stack';
import { startTlsProxy, type TlsProxy } from './support/tls-proxy';

describe('Temporal over TLS, through a gRPC proxy', () => {
  let proxy: TlsProxy;
  const dir = mkdtempSync(join(tmpdir(), 'rotator-tls-cfg-'));
  const keys = testCodecKeys();
  const saved = { ...process.env };
  beforeAll(async () => {
    proxy = await startTlsProxy(testStack().temporal!.address);
    process.env.ROTATOR_CODEC_KEY = codecKeyEnv(keys);
  });
  afterAll(async () => {
    process.env = saved;
    await proxy?.stop();
  });

  /** The scenario's config, with its temporal block pointed at `address` and given `lines` (indented under it). */
  function through(yaml: string, address: string, lines: string[]): string {
    return yaml.replace(/^ {2}address: ".*"$/m, [`  address: "${address}"`, ...lines.map((l) => `  ${l}`)].join('\n'));
  }
  const write = (name: string, text: string) => {
    const file = join(dir, name);
    writeFileSync(file, text, { mode: 0o600 });
    return file;
  };
  const mtls = () => [
    'tls:',
    `  ca_file: ${proxy.files.ca}`,
    `  cert_file: ${proxy.files.clientCert}`,
    `  key_file: ${proxy.files.clientKey}`,
  ];

  it('rotates with worker and CLI both connected over mTLS', async () => {
    const scenario = await postgresScenario('alternating-users', unique('tq'));
    Object.assign(process.env, scenario.env);
    const yaml = through(scenario.yaml, proxy.mtlsAddress, mtls());
    const worker = await startRotator(yaml, scenario.env, { keys }); // its worker connects through the proxy
    try {
      const run = await cli('--config', write('mtls.yaml', yaml), 'rotate', scenario.secret, '--wait');
      expect(run.err).toBe('');
      expect(run.code).toBe(EXIT.OK);
      expect(run.out).toContain(`${scenario.secret}: succeeded`);
    } finally {
      await worker.close();
    }
  });

  it('says clearly when the server certificate is not from the configured CA', async () => {
    const scenario = await postgresScenario('alternating-users', unique('tq'));
    Object.assign(process.env, scenario.env);
    const lines = mtls().map((l) => l.replace(proxy.files.ca, proxy.files.otherCa));
    const config = write('wrong-ca.yaml', through(scenario.yaml, proxy.mtlsAddress, lines));
    for (const command of ['list', 'worker']) {
      const run = await cli('--config', config, command);
      expect(run.code).toBe(EXIT.UNAVAILABLE);
      expect(run.err).toContain(`cannot reach Temporal at ${proxy.mtlsAddress}`);
      expect(run.err).toMatch(/certificate/i);
    }
  });

  it('says clearly when the server wants a client certificate and none is configured', async () => {
    const scenario = await postgresScenario('alternating-users', unique('tq'));
    Object.assign(process.env, scenario.env);
    const config = write('no-cert.yaml', through(scenario.yaml, proxy.mtlsAddress, ['tls:', `  ca_file: ${proxy.files.ca}`]));
    const run = await cli('--config', config, 'list');
    expect(run.code).toBe(EXIT.UNAVAILABLE);
    expect(run.err).toContain(`cannot reach Temporal at ${proxy.mtlsAddress}`);
    expect(run.err).toMatch(/client certificate/i);
  });

  it('connects with an API key, and says clearly when the key is refused', async () => {
    const scenario = await postgresScenario('alternating-users', unique('tq'));
    Object.assign(process.env, scenario.env, { TEST_TEMPORAL_API_KEY: proxy.apiKey });
    const keyed = (key: string) =>
      through(scenario.yaml, proxy.apiKeyAddress, ['tls:', `  ca_file: ${proxy.files.ca}`, `api_key: ${key}`]);
    const ok = await cli('--config', write('api-key.yaml', keyed('${TEST_TEMPORAL_API_KEY}')), 'list');
    expect(ok.err).toBe('');
    expect(ok.code).toBe(EXIT.OK);
    const refused = await cli('--config', write('bad-key.yaml', keyed('not-the-key')), 'list');
    expect(refused.code).toBe(EXIT.UNAVAILABLE);
    expect(refused.err).toMatch(/API key/);
    expect(refused.err).not.toContain('not-the-key');
  });

  it('names the field of a TLS file that cannot be read', async () => {
    const scenario = await postgresScenario('alternating-users', unique('tq'));
    Object.assign(process.env, scenario.env);
    const config = write('missing.yaml', through(scenario.yaml, proxy.mtlsAddress, ['tls:', '  ca_file: /nonexistent/ca.crt']));
    const run = await cli('--config', config, 'list');
    expect(run.code).toBe(EXIT.BAD_INPUT);
    expect(run.err).toContain('temporal.tls.ca_file: cannot read /nonexistent/ca.crt: ENOENT');
  });
});
