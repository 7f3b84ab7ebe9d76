// Issue 28, as a hostile user tried it on the real stack (OpenBao, the Temporal dev server, the listener's and the
// reader library's HTTP servers on loopback): a version that cannot exist, an out-of-range cron, C1 and bidi
// characters in a signed event, config errors that say what they found, and secrets written into the config.
import { randomBytes } from 'node:crypto';
import { mkdtempSync, writeFileSync } from 'node:fs';
import * as http from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Client, Connection } from '@temporalio/client';
import { msToTs } from '@temporalio/common/lib/time';
import { ProviderRegistry } from '../activities/registry';
import { EXIT } from '../src/cli/main';
import { resolveSecret } from '../src/client/resolve';
import { connectTemporal, dataConverterFromEnv } from '../src/client/temporal';
import { parseConfig } from '../src/config/load';
import { TriggersSchema } from '../src/config/trigger';
import { createSecretClient } from '../src/reader';
import { createLogger } from '../src/kernel/log';
import { createDispatch } from '../src/listener/dispatch';
import { signWebhook, startHttpListener } from '../src/listener/http';
import { cli } from './support/cli';
import { codecKeyEnv, configYaml, testCodecKeys, testEnv, unique } from './support/harness';
import { testStack } from './support/stack';
import { vaultTestStore } from './support/test-stores';
import { thrown } from './support/thrown';

const saved = { ...process.env };
let dir: string;

beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'rotator-edges-'));
  Object.assign(process.env, testEnv(), { ROTATOR_CODEC_KEY: codecKeyEnv(testCodecKeys()) });
});

afterAll(() => {
  process.env = saved;
});

function fileWith(text: string): string {
  const file = join(dir, `${unique('rotator')}.yaml`);
  writeFileSync(file, text, { mode: 0o600 });
  return file;
}

/** An HTTP server standing where a Vault would be, counting the requests it gets (and answering each with 500). */
async function counting(): Promise<{ address: string; hits: () => number; close: () => Promise<void> }> {
  let hits = 0;
  const server = http.createServer((_req, res) => {
    hits += 1;
    res.writeHead(500, { 'Content-Type': 'application/json' }).end('{"errors":["counted"]}');
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    address: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    hits: () => hits,
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
}

describe('?version= a store cannot have (items 1 and 2)', () => {
  const run = unique('edges');
  const vault = vaultTestStore();
  const V1 = `cfg-v1-${randomBytes(6).toString('hex')}`;
  const V2 = `cfg-v2-${randomBytes(6).toString('hex')}`;
  let counter: Awaited<ReturnType<typeof counting>>;
  let file: string;

  beforeAll(async () => {
    counter = await counting();
    await vault.write(`${run}/app-cfg`, { password: V1 });
    await vault.write(`${run}/app-cfg`, { password: V2 });
    file = fileWith(
      [
        'providers:',
        '  vault:',
        ...vault.providerYaml,
        '  counted:',
        '    type: vault',
        `    address: "${counter.address}"`,
        '    token: ${TEST_VAULT_TOKEN}',
        'secrets:',
        '  app_cfg:',
        '    provider: vault',
        `    path: ${vault.configPath(`${run}/app-cfg`)}`,
        '  counted_cfg:',
        '    provider: counted',
        '    path: secret/data/counted',
        // An outage would go to the fallback: a malformed version must not.
        '    fallback: { provider: vault, path: ' + vault.configPath(`${run}/app-cfg`) + ' }',
      ].join('\n') + '\n',
    );
  });

  afterAll(async () => {
    await counter.close();
  });

  it('rotator get refuses ?version=-1 and ?version=0 with exit 2 naming the parameter, and prints no value', async () => {
    for (const version of ['-1', '0']) {
      const r = await cli('--config', file, 'get', `secret://app_cfg/password?version=${version}`, '--reveal');
      expect({ version, code: r.code }).toEqual({ version, code: EXIT.BAD_INPUT });
      expect(r.err).toContain(`?version=${version} cannot name a version of secret://app_cfg/password in vault provider vault`);
      expect(r.err).toContain('expected a positive whole number');
      expect(r.out + r.err).not.toContain(V1);
      expect(r.out + r.err).not.toContain(V2);
    }
    // A version that can exist still resolves.
    const one = await cli('--config', file, '--json', 'get', 'secret://app_cfg/password?version=1', '--reveal');
    expect(one.code).toBe(EXIT.OK);
    expect(JSON.parse(one.out)).toMatchObject({ version: '1', value: V1 });
  });

  it('the resolver and the reader library refuse ?version=-1 as CONFIG_INVALID, not the current value', async () => {
    const config = parseConfig(
      `providers:\n  vault:\n${vault.providerYaml.join('\n')}\nsecrets:\n  app_cfg:\n    provider: vault\n    path: ${vault.configPath(`${run}/app-cfg`)}\n`,
      testEnv(),
    );
    const providers = new ProviderRegistry(config.providers);
    const library = createSecretClient({ config, providers });
    try {
      const fromResolver = await thrown(resolveSecret(config, providers, 'secret://app_cfg/password?version=-1'));
      expect(fromResolver).toMatchObject({ code: 'CONFIG_INVALID', path: 'uri' });
      expect(fromResolver.message).toContain('?version=-1');
      const fromLibrary = await thrown(library.get('secret://app_cfg/password?version=-1'));
      expect(fromLibrary.code).toBe('CONFIG_INVALID');
      expect(fromLibrary.message).toContain('?version=-1');
      expect((await library.get('secret://app_cfg/password')).value).toBe(V2);
    } finally {
      await library.close();
      await providers.close();
    }
  });

  it('?version=1.5 is bad input (exit 2) refused before any store is asked, and never sent to the fallback', async () => {
    for (const secret of ['app_cfg', 'counted_cfg']) {
      const r = await cli('--config', file, 'get', `secret://${secret}/password?version=1.5`);
      expect({ secret, code: r.code }).toEqual({ secret, code: EXIT.BAD_INPUT });
      expect(r.err).toContain('?version=1.5 cannot name a version of');
      expect(r.err).not.toMatch(/TRANSIENT|unavailable/);
    }
    expect(counter.hits()).toBe(0);
  });
});

describe('an out-of-range cron (item 3)', () => {
  let connection: Connection;

  beforeAll(async () => {
    connection = await connectTemporal({ address: testStack().temporal!.address });
  });

  afterAll(async () => {
    await connection?.close();
  });

  it('validate, plan and schedule sync (with and without --dry-run) refuse "0 25 * * *" with exit 2, naming the field and its range', async () => {
    // A namespace of its own: were sync to run, it would manage every rotator Schedule there.
    const namespace = unique('edges').replace('_', '-');
    await connection.workflowService.registerNamespace({ namespace, workflowExecutionRetentionPeriod: msToTs('1d') });
    const name = unique('db');
    const text = configYaml(unique('tq'), [{ name, role: name, extra: 'schedule: { cron: "0 25 * * *" }' }], 'test/pg-admin');
    const file = fileWith(text.replace('temporal:\n', `temporal:\n  namespace: ${namespace}\n`));
    const field = `secrets.${name}.rotation.schedule.cron`;
    for (const argv of [['validate'], ['plan', name], ['schedule', 'sync', '--dry-run'], ['schedule', 'sync']]) {
      const r = await cli('--config', file, ...argv);
      expect({ argv, code: r.code }).toEqual({ argv, code: EXIT.BAD_INPUT });
      expect(r.err).toContain(`${field}: hour: 25 is outside 0-23`);
    }
    const client = new Client({ connection, namespace, dataConverter: dataConverterFromEnv() });
    const schedules: string[] = [];
    for await (const s of client.schedule.list()) schedules.push(s.scheduleId);
    expect(schedules).toEqual([]);
  });
});

describe('C1, bidi and line-separator characters in a signed event (item 4)', () => {
  const KEY = randomBytes(24).toString('hex');
  const HOSTILE = ['\u009b2J', '\u202eevil', 'a\u2028forged line'];

  it('rotator listen refuses them in secret and type with 400, and no log line carries one', async () => {
    const connection = await connectTemporal({ address: testStack().temporal!.address });
    const lines: string[] = [];
    const log = createLogger({ write: (line: string) => lines.push(line) });
    const triggers = TriggersSchema.parse({
      listen: { host: '127.0.0.1', port: 0 },
      sources: { hooks: { type: 'webhook', signing_key: KEY } },
      rules: [{ source: 'hooks', secret: 'orders_db', action: 'alert', resource: 'orders_db' }],
    });
    const client = new Client({ connection });
    const dispatch = createDispatch({ client, taskQueue: unique('tq'), triggers, log });
    const listener = await startHttpListener(triggers, dispatch, { log, ready: () => true });
    try {
      for (const bad of HOSTILE) {
        for (const field of ['secret', 'type']) {
          const event = { id: unique('evt'), type: 'rotator.rotate', secret: 'other', [field]: `x${bad}` };
          const body = JSON.stringify(event);
          const res = await fetch(`http://${listener.address.host}:${listener.address.port}/hooks/hooks`, {
            method: 'POST',
            body,
            headers: signWebhook(KEY, body),
          });
          expect({ field, bad, status: res.status }).toEqual({ field, bad, status: 400 });
        }
      }
      expect(lines.length).toBeGreaterThan(0);
      expect(lines.filter((l) => /[\u0080-\u009f\u202a-\u202e\u2066-\u2069\u2028\u2029]/.test(l))).toEqual([]);
    } finally {
      await listener.close();
      await connection.close();
    }
  });

  it("the reader library's webhook receiver refuses them with 400 too", async () => {
    const vault = vaultTestStore();
    const path = unique('edges-reconnect');
    await vault.write(path, { password: 'reconnect-Pa55-0001' });
    const config = parseConfig(
      `providers:\n  vault:\n${vault.providerYaml.join('\n')}\nsecrets:\n  db:\n    provider: vault\n    path: ${vault.configPath(path)}\n`,
      testEnv(),
    );
    const warned: string[] = [];
    const log = createLogger({ write: (line: string) => warned.push(line) });
    const library = createSecretClient({ config, signingKey: () => KEY, log });
    try {
      const { url } = await library.listen();
      for (const bad of HOSTILE) {
        const body = JSON.stringify({ id: unique('evt'), type: 'rotator.credential.rotated', secret: `db${bad}` });
        const res = await fetch(url, { method: 'POST', body, headers: signWebhook(KEY, body) });
        expect({ bad, status: res.status }).toEqual({ bad, status: 400 });
      }
      // Each refusal was logged (so the check below looks at real lines), and none carries the character.
      expect(warned.filter((l) => l.includes('reconnect event refused')).length).toBeGreaterThanOrEqual(HOSTILE.length);
      expect(warned.filter((l) => /[\u0080-\u009f\u202a-\u202e\u2028]/.test(l))).toEqual([]);
    } finally {
      await library.close();
    }
  });
});

describe('config errors say what they found (item 5)', () => {
  const PASSWORD = `edge-password-${randomBytes(16).toString('hex')}`; // longer than what a message shows

  it('for regex, custom, too_small, too_big and cron checks, printable and truncated, never a secret field or value', async () => {
    const name = unique('db');
    const schedule =
      'schedule: { every: 1d, attempts: 99, window: { start: "2:00", end: "04:00", time_zone: Mars/Olympus_Mons } }';
    const text =
      configYaml(unique('tq'), [{ name, role: name, extra: schedule }], 'test/pg-admin') +
      [
        'sweep:',
        '  rate: { starts: 0 }',
        'triggers:',
        '  sources:',
        '    hooks: { type: webhook, signing_key: "short-Key-9" }',
        '  rules:',
        // YAML's \x9b: the C1 character U+009B in the rule's secret name.
        `    - { source: hooks, secret: "x\\x9b2J-${'r'.repeat(60)}", action: rotate }`,
      ].join('\n') +
      '\n';
    // A password reaching a field that is not named like one is scrubbed before the text is cut.
    const file = fileWith(text.replace('time_zone: Mars/Olympus_Mons', 'time_zone: "${EDGE_DB_PASSWORD}"'));
    const marsFile = fileWith(text);
    process.env.EDGE_DB_PASSWORD = PASSWORD;
    try {
      const r = await cli('--config', file, 'validate');
      const mars = await cli('--config', marsFile, 'validate');
      expect(r.code).toBe(EXIT.BAD_INPUT);
      expect(mars.code).toBe(EXIT.BAD_INPUT);
      const at = `secrets.${name}.rotation.schedule`;
      // invalid_format (a regex)
      expect(r.err).toContain(`${at}.window.start: expected a time of day like 02:00 (24-hour HH:MM), got the text "2:00"`);
      // custom (a refine)
      expect(mars.err).toContain(
        `${at}.window.time_zone: expected an IANA time zone like UTC or Europe/Berlin, got the text "Mars/Olympus_Mons"`,
      );
      expect(r.err).toContain(
        `${at}.window.time_zone: expected an IANA time zone like UTC or Europe/Berlin, got the text "[REDACTED]"`,
      );
      // too_small, too_big
      expect(r.err).toContain('sweep.rate.starts: expected at least 1, got the number 0');
      expect(r.err).toContain(`${at}.attempts: expected at most 10, got the number 99`);
      // too_small in a field that holds a secret: its kind only.
      expect(r.err).toContain(
        'triggers.sources.hooks.signing_key: expected a signing key of at least 16 characters (use ${VAR}), got text',
      );
      expect(r.err).not.toContain('short-Key-9');
      expect(r.err).not.toContain(PASSWORD.slice(0, 12));
      // printable and cut: the rule's C1 character becomes ?, and the text ends after 40 characters.
      const rule = r.err.split('\n').find((l) => l.includes('triggers.rules.0.secret:'));
      expect(rule).toContain(`got the text "x?2J-${'r'.repeat(35)}…"`);
      expect(r.err).not.toMatch(/[\u0080-\u009f]/);
    } finally {
      delete process.env.EDGE_DB_PASSWORD;
    }
  });
});

describe('a secret written into the config (item 6)', () => {
  it('validate warns naming each field that holds a literal secret, never its value; ${VAR} and secret:// are not literal', async () => {
    const TOKEN = `hvs.literal-${randomBytes(12).toString('hex')}`;
    const SIGNING = `literal-signing-${randomBytes(12).toString('hex')}`;
    const name = unique('db');
    const text = configYaml(unique('tq'), [{ name, role: name }], 'test/pg-admin');
    const clean = fileWith(text);
    const literal = fileWith(
      text.replace('token: ${TEST_VAULT_TOKEN}', `token: ${TOKEN}`) +
        [
          'triggers:',
          '  sources:',
          `    hooks: { type: webhook, signing_key: ${SIGNING} }`,
          '  rules:',
          `    - { source: hooks, secret: ${name}, action: rotate }`,
        ].join('\n') +
        '\n',
    );
    for (const offline of [[], ['--offline']]) {
      const r = await cli('--config', literal, '--json', 'validate', ...offline);
      expect({ offline, code: r.code }).toEqual({ offline, code: EXIT.OK });
      expect(JSON.parse(r.out).literalSecrets).toEqual(['providers.vault.token', 'triggers.sources.hooks.signing_key']);
      const text = await cli('--config', literal, 'validate', ...offline);
      expect(text.out).toContain(
        'warning: providers.vault.token: holds a secret written into the config file; take it from the environment with ${VAR}',
      );
      expect(text.out).toContain('warning: triggers.sources.hooks.signing_key: holds a secret written into the config');
      for (const out of [r.out + r.err, text.out + text.err]) {
        expect(out).not.toContain(TOKEN);
        expect(out).not.toContain(SIGNING);
      }
      const ok = await cli('--config', clean, '--json', 'validate', ...offline);
      expect(ok.code).toBe(EXIT.OK);
      expect(JSON.parse(ok.out).literalSecrets).toEqual([]);
    }
  });
});
