// What a hostile or careless user tries, on the real stack: each defect found that way, and the answer users expect.
import { randomBytes } from 'node:crypto';
import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Client } from '@temporalio/client';
import { loadCodecKeys } from '../src/client/codec/aes-gcm-codec';
import { awaitPickup, followRotation, startRotation } from '../src/client/rotations';
import { EXIT } from '../src/cli/main';
import { cli } from './support/cli';
import { ROTATE_SECRET } from '../workflows/definitions';
import { spawnFaultyWorker, writeBundle } from './support/fault-injection';
import {
  adminQuery,
  codecKeyEnv,
  startHarness,
  testCodecKeys,
  testEnv,
  unique,
  untilPhase,
  vaultClient,
  workflowBundle,
} from './support/harness';
import { rootCall } from './support/redis-harness';
import { startRotator } from './support/rotator';
import { postgresScenario } from './support/rotation-scenarios';
import { testStack } from './support/stack';
import { connectTemporal } from '../src/client/temporal';

const dir = mkdtempSync(join(tmpdir(), 'rotator-hostile-'));
function file(name: string, text: string): string {
  const path = join(dir, name);
  writeFileSync(path, text, { mode: 0o600 });
  return path;
}

/** A config with one rotatable secret whose blocks the test replaces. */
function configWith(blocks: { target?: string; rotation?: string; path?: string; temporal?: string }): string {
  const stack = testStack();
  return `
temporal:
  address: "${stack.temporal!.address}"
  ${blocks.temporal ?? 'task_queue: hostile'}
providers:
  vault: { type: vault, address: "${stack.vault!.address}", token: "\${TEST_VAULT_TOKEN}" }
secrets:
  admin: { provider: vault, path: secret/data/test/hostile-admin }
  app:
    provider: vault
    path: ${blocks.path ?? 'secret/data/test/hostile-app'}
    target: ${blocks.target ?? '{ type: postgresql, connection: secret://admin, role: hostile_app }'}
    rotation: ${blocks.rotation ?? '{ strategy: alternating-users }'}
`;
}

describe('hostile input', () => {
  const saved = { ...process.env };
  // The CLI's key; a harness started with testCodecKeys() holds another one (id test-1), as a mismatched worker would.
  const keys = { activeKeyId: 'hostile-cli', keys: new Map([['hostile-cli', randomBytes(32)]]) };
  beforeAll(() => {
    Object.assign(process.env, testEnv(), { ROTATOR_CODEC_KEY: codecKeyEnv(keys) });
  });
  afterAll(() => {
    process.env = saved;
  });

  it('1: says what a wrongly typed field held and what it needs, never a secret-named field’s value', async () => {
    const duration = await cli(
      'validate',
      file('t1.yaml', configWith({ rotation: '{ strategy: alternating-users, grace_period: 30 }' })),
    );
    expect(duration.code).toBe(EXIT.BAD_INPUT);
    expect(duration.err).toContain(
      'secrets.app.rotation.grace_period: expected a duration like 500ms, 30s, 5m, 1h, got the number 30',
    );
    const length = await cli(
      'validate',
      file('t1b.yaml', configWith({ rotation: '{ strategy: alternating-users, password: { length: "64" } }' })),
    );
    expect(length.err).toContain('secrets.app.rotation.password.length: expected number, got the text "64"');
    const token = await cli('validate', file('t1c.yaml', configWith({}).replace('"${TEST_VAULT_TOKEN}"', '987654321')));
    expect(token.err).toContain('providers.vault.token: expected string, got a number');
    expect(token.err).not.toContain('987654321');
  });

  it('2: refuses a key on target.connection, which would otherwise be ignored', async () => {
    const run = await cli(
      'validate',
      file('t2.yaml', configWith({ target: '{ type: postgresql, connection: secret://admin/password, role: hostile_app }' })),
    );
    expect(run.code).toBe(EXIT.BAD_INPUT);
    expect(run.err).toContain('secrets.app.target.connection: names one field (password) of admin');
  });

  it('3: refuses Redis ACL rules that let the rotated login rewrite ACLs, so no such login is ever created', async () => {
    for (const rule of ['+acl', '+acl|setuser', '+@admin', '+@dangerous', '+@all', 'allcommands']) {
      const user = unique('acl');
      const yaml = configWith({
        target: `{ type: redis, connection: secret://admin, user: ${user}, acl: ["~*", "${rule}"] }`,
      });
      const rotate = await cli('--config', file(`t3-${user}.yaml`, yaml), 'rotate', 'app', '--wait');
      expect(rotate.code).toBe(EXIT.BAD_INPUT);
      expect(rotate.err).toContain(`secrets.app.target.acl.1: ${rule} would let the rotated login run ACL SETUSER`);
      expect(await rootCall('ACL', 'GETUSER', `${user}_a`)).toBeNull();
      expect(await rootCall('ACL', 'GETUSER', `${user}_b`)).toBeNull();
    }
  });

  it('4: refuses acl on a dual-password or single-user Redis target, where it would never be applied', async () => {
    for (const strategy of ['dual-password', 'single-user']) {
      const run = await cli(
        'validate',
        file(
          `t4-${strategy}.yaml`,
          configWith({
            target: '{ type: redis, connection: secret://admin, user: app, acl: ["~*", "+get"] }',
            rotation: `{ strategy: ${strategy} }`,
          }),
        ),
      );
      expect(run.code).toBe(EXIT.BAD_INPUT);
      expect(run.err).toContain(`secrets.app.target.acl: acl is applied by alternating-users only`);
    }
  });

  it('5: refuses at validate what only a rotation would find: too few password characters, a Vault mount as path', async () => {
    const exclude = await cli(
      'validate',
      file(
        't5.yaml',
        configWith({
          rotation:
            '{ strategy: alternating-users, password: { exclude: "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ01234" } }',
        }),
      ),
    );
    expect(exclude.code).toBe(EXIT.BAD_INPUT);
    expect(exclude.err).toContain('secrets.app.rotation.password.exclude: leaves 5 characters');
    const mount = await cli('validate', file('t5b.yaml', configWith({ path: 'secret' })));
    expect(mount.code).toBe(EXIT.BAD_INPUT);
    expect(mount.err).toContain('secrets.app.path: expected <mount>/data/<path>, got "secret"');
  });

  it('6: answers a YAML alias bomb as bad input, naming the file', async () => {
    const bomb = file(
      'bomb.yaml',
      [
        'a: &a [x, x, x, x, x, x, x, x, x, x]',
        'b: &b [*a, *a, *a, *a, *a, *a, *a, *a, *a, *a]',
        'c: &c [*b, *b, *b, *b, *b, *b, *b, *b, *b, *b]',
        'd: [*c, *c, *c, *c, *c, *c, *c, *c, *c, *c, *c, *c]',
        'secrets: {}',
      ].join('\n'),
    );
    const run = await cli('validate', bomb);
    expect(run.code).toBe(EXIT.BAD_INPUT);
    expect(run.err).toContain(`${bomb}: invalid config`);
    expect(run.err).toMatch(/alias/i);
  });

  it('7: names temporal.namespace when the namespace does not exist', async () => {
    const run = await cli('--config', file('t7.yaml', configWith({ temporal: 'namespace: no-such-namespace' })), 'list');
    expect(run.code).toBe(EXIT.BAD_INPUT);
    expect(run.err).toContain('temporal.namespace: namespace "no-such-namespace" does not exist');
  });

  it('8: says the same for a secret not in the config, whatever the command', async () => {
    const config = file('t8.yaml', configWith({}));
    for (const command of ['rotate', 'status', 'history']) {
      const run = await cli('--config', config, command, 'nope');
      expect(run.code).toBe(EXIT.NOT_FOUND);
      expect(run.err).toContain('no secret named "nope"');
    }
  });

  it('9: with mismatched codec keys the CLI exits naming the key id, and leaves no rotation running', async () => {
    const h = await startHarness([{}], { keys: testCodecKeys() }); // the worker's own, other key
    try {
      // However late the busy worker fails the first task (before, a CLI that looked for 5 s then followed forever).
      const run = await cli('--config', file('t9.yaml', h.yaml), 'rotate', h.secrets[0].name, '--wait');
      expect(run.code).toBe(EXIT.BAD_INPUT);
      expect(run.err).toContain(`cannot read this client's key id "${keys.activeKeyId}"`);
      const described = await h.client.workflow.getHandle(`rotate/${h.secrets[0].name}`).describe();
      expect(described.status.name).toBe('TERMINATED');
    } finally {
      await h.close();
    }
  });

  it('10: says "cannot reach Temporal" with exit 5 when the worker has no server to talk to', async () => {
    const unreachable = configWith({}).replace(`"${testStack().temporal!.address}"`, '"127.0.0.1:1"');
    const run = await cli('--config', file('t10.yaml', unreachable), 'worker');
    expect(run.code).toBe(EXIT.UNAVAILABLE);
    expect(run.err).toContain('cannot reach Temporal at 127.0.0.1:1');
  });

  describe('11: a rotateSecret started by hand through Temporal', () => {
    const quoted = `hostile"; drop role postgres; --`;
    async function handStarted(
      codec: boolean,
    ): Promise<{ client: Client; workflowId: string; taskQueue: string; close: () => Promise<void> }> {
      const scenario = await postgresScenario('alternating-users', unique('tq'));
      const rotator = await startRotator(scenario.yaml, scenario.env, codec ? { keys } : { codec: false });
      const plan = { ...scenario.plan, login: quoted, target: { ...scenario.plan.target, role: quoted } };
      // A plain client: no codec, JSON payloads, a plan no config would produce.
      const connection = await connectTemporal({ address: testStack().temporal!.address });
      const client = new Client({ connection });
      const workflowId = unique('hand-started');
      await client.workflow.start(ROTATE_SECRET, {
        taskQueue: rotator.config.temporal.task_queue,
        workflowId,
        args: [{ plan }],
      });
      return {
        client,
        workflowId,
        taskQueue: rotator.config.temporal.task_queue,
        async close() {
          await connection.close();
          await rotator.close();
        },
      };
    }

    it('is refused by a worker that holds codec keys (a plaintext payload), and creates no role', async () => {
      const { client, workflowId, taskQueue, close } = await handStarted(true);
      try {
        const pickup = await awaitPickup(client, client.workflow.getHandle(workflowId), taskQueue, 10_000);
        expect(pickup).toMatchObject({ state: 'unreadable' });
        expect(await adminQuery('select rolname from pg_roles where rolname like $1', ['hostile%'])).toEqual([]);
        await client.workflow.getHandle(workflowId).terminate('test cleanup');
      } finally {
        await close();
      }
    });

    it('fails with CONFIG_INVALID naming the field on a worker without codec, and creates no role', async () => {
      const { client, workflowId, close } = await handStarted(false);
      try {
        const { status, ok } = await followRotation(client.workflow.getHandle(workflowId));
        expect(ok).toBe(false);
        expect(status).toMatchObject({ outcome: 'failed', error: { code: 'CONFIG_INVALID' } });
        expect(status.error!.message).toContain('plan.target.role');
        expect(await adminQuery('select rolname from pg_roles where rolname like $1', ['hostile%'])).toEqual([]);
      } finally {
        await close();
      }
    });
  });

  it('12: removes the rollback notes from Vault metadata when a later rotation succeeds', async () => {
    const h = await startHarness([{ extra: 'reconnect: { wait: 1h }' }], { keys });
    try {
      const { name } = h.secrets[0];
      const meta = async () => (await vaultClient().read(`secret/metadata/test/${name}`)).data.custom_metadata;
      const quick = { ...h.plan(name), reconnectWaitMs: 0 }; // the same secret without the long reconnect wait
      expect((await followRotation((await startRotation(h.client, h.taskQueue, quick)).handle)).ok).toBe(true);
      const first = await startRotation(h.client, h.taskQueue, h.plan(name));
      await untilPhase(first.handle, 'reconnect');
      await first.handle.cancel(); // rolls the published version back
      await followRotation(first.handle);
      expect(await meta()).toHaveProperty('rotator_rolled_back_from');
      const again = await startRotation(h.client, h.taskQueue, quick);
      expect((await followRotation(again.handle)).ok).toBe(true);
      const after = await meta();
      expect(after).not.toHaveProperty('rotator_rolled_back_from');
      expect(after).not.toHaveProperty('rotator_restored_version');
      expect(after).toMatchObject({ rotator_phase: 'promoted' });
    } finally {
      await h.close();
    }
  });

  it('13: warns after a worker crash, when the dead worker still counts as polling', async () => {
    const h = await startHarness([{}], { keys });
    await h.close(); // only the crashed worker below polls this queue
    const bundleFile = writeBundle(dir, (await workflowBundle()).code);
    const configFile = file('t13.yaml', h.yaml);
    const worker = spawnFaultyWorker({
      configFile,
      bundleFile,
      env: { ...testEnv(), ROTATOR_CODEC_KEY: codecKeyEnv(keys) },
    });
    const connection = await connectTemporal({ address: testStack().temporal!.address });
    const client = new Client({ connection });
    try {
      // Wait until the process polls, then kill it: Temporal still lists it as a poller for a while. A worker that
      // has not polled yet would make this the no-poller case (CI once: a spawned worker slower than 10 s to start).
      for (let deadline = Date.now() + 90_000; ; await new Promise((r) => setTimeout(r, 100))) {
        const res = await client.workflowService.describeTaskQueue({ namespace: 'default', taskQueue: { name: h.taskQueue } });
        if ((res.pollers?.length ?? 0) > 0) break;
        if (Date.now() > deadline) throw new Error('the spawned worker never polled its task queue within 90 s');
      }
      await worker.kill();
      const run = await cli('--config', configFile, 'rotate', h.secrets[0].name);
      expect(run.code).toBe(EXIT.OK);
      expect(run.err).not.toContain('no worker is polling');
      expect(run.err).toContain('no worker has picked the rotation up within 5 s');
      await client.workflow.getHandle(`rotate/${h.secrets[0].name}`).terminate('test cleanup');
    } finally {
      await worker.kill();
      await connection.close();
    }
  });

  it('reports errors as one JSON document under --json, with code, message and field', async () => {
    const run = await cli('--json', 'validate', file('json.yaml', configWith({ rotation: '{ strategy: sometimes }' })));
    expect(run.code).toBe(EXIT.BAD_INPUT);
    expect(run.err).toBe('');
    const doc = JSON.parse(run.out) as { ok: boolean; error: { code: string; message: string; field: string } };
    expect(doc).toMatchObject({ ok: false, error: { code: 'CONFIG_INVALID', field: 'secrets.app.rotation.strategy' } });
    const unknown = JSON.parse((await cli('--json', '--config', file('json2.yaml', configWith({})), 'status', 'nope')).out);
    expect(unknown).toMatchObject({ ok: false, error: { code: 'NOT_FOUND', field: 'secret' } });
  });

  it('bounds rotate --wait with --timeout and says how to follow the rotation', async () => {
    const idle = file('idle.yaml', configWith({ temporal: 'task_queue: nobody-polls-this-either' }));
    const run = await cli('--config', idle, 'rotate', 'app', '--wait', '--timeout', '1s');
    expect(run.code).toBe(EXIT.UNAVAILABLE);
    expect(run.err).toContain('still running after --timeout 1s');
    expect(run.err).toContain('rotator status app');
    const connection = await connectTemporal({ address: testStack().temporal!.address });
    await new Client({ connection }).workflow.getHandle('rotate/app').terminate('test cleanup');
    await connection.close();
  });
});

describe('trying rotator without Docker', () => {
  const saved = { ...process.env };
  afterAll(() => {
    process.env = saved;
  });

  it('validates without the environment when asked: unset variables are listed, real errors still refused', async () => {
    const example = join(__dirname, '../examples/rotator.yaml');
    delete process.env.VAULT_TOKEN;
    const offline = await cli('validate', '--offline', example);
    expect(offline.code).toBe(EXIT.OK);
    expect(offline.out).toContain('providers.vault.token: from ${VAULT_TOKEN}, unset here: not checked');
    const broken = file(
      'offline.yaml',
      readFileSync(example, 'utf8').replace('strategy: alternating-users', 'strategy: sometimes'),
    );
    const refused = await cli('validate', '--offline', broken);
    expect(refused.code).toBe(EXIT.BAD_INPUT);
    expect(refused.err).toContain('secrets.orders_db.rotation.strategy');
    expect(refused.err).not.toContain('token');
  });

  it('starts the local stack with rotator stack, prints the environment, and a rotation against it succeeds', async () => {
    const child = spawn(join(__dirname, '../bin/rotator'), ['stack'], { stdio: ['ignore', 'pipe', 'inherit'] });
    const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
    try {
      let out = '';
      for await (const chunk of child.stdout!) {
        out += String(chunk);
        if (out.includes('Ctrl-C')) break;
      }
      const env = Object.fromEntries([...out.matchAll(/^export (\w+)=(.*)$/gm)].map((m) => [m[1], m[2]]));
      expect(Object.keys(env).sort()).toEqual(['ROTATOR_CODEC_KEY_FILE', 'TEMPORAL_ADDRESS', 'VAULT_ADDR', 'VAULT_TOKEN']);
      Object.assign(process.env, env);
      const example = join(__dirname, '../examples/rotator.yaml');
      const worker = await startRotator(readFileSync(example, 'utf8'), env, { keys: loadCodecKeys(env) });
      try {
        const run = await cli('--config', example, 'rotate', 'orders_db', '--wait');
        expect(run.code).toBe(EXIT.OK);
        expect(run.out).toContain('orders_db: succeeded');
      } finally {
        await worker.close();
      }
    } finally {
      child.kill('SIGINT');
      expect(await exited).toBe(0);
    }
  });
});

describe('hostile input, second round (found by a hostile test of this work)', () => {
  const saved = { ...process.env };
  const token = `s.${randomBytes(12).toString('hex')}`;
  beforeAll(() => {
    Object.assign(process.env, testEnv(), { EXTRA_TOKEN: token });
  });
  afterAll(() => {
    process.env = saved;
  });

  it('never quotes the offending text of a YAML syntax error, which may be an inline secret', async () => {
    const run = await cli(
      'validate',
      file('r1.yaml', `providers:\n  vault: { type: vault, token: ${token} }\n  : :\nsecrets: {}\n`),
    );
    expect(run.code).toBe(EXIT.BAD_INPUT);
    expect(run.out + run.err).not.toContain(token);
  });

  it('hints at quoting a ${VAR} inside a flow mapping', async () => {
    const run = await cli('validate', file('r1b.yaml', 'temporal: { address: ${TEMPORAL_ADDRESS} }\nsecrets: {}\n'));
    expect(run.err).toContain('must be quoted: key: "${VAR}"');
  });

  it('never shows a secret variable’s value, wherever the config put it', async () => {
    const inPath = await cli('validate', file('r2.yaml', configWith({ path: '"${EXTRA_TOKEN}"' })));
    expect(inPath.code).toBe(EXIT.BAD_INPUT);
    expect(inPath.err).toContain('secrets.app.path');
    const inNamespace = await cli('--config', file('r2b.yaml', configWith({ temporal: 'namespace: "${EXTRA_TOKEN}"' })), 'list');
    expect(inNamespace.code).toBe(EXIT.BAD_INPUT);
    for (const run of [inPath, inNamespace]) expect(run.out + run.err).not.toContain(token);
  });

  it('refuses a Vault path that climbs out with ..', async () => {
    const run = await cli('validate', file('r3.yaml', configWith({ path: 'secret/data/prod/../escaped' })));
    expect(run.code).toBe(EXIT.BAD_INPUT);
    expect(run.err).toContain('secrets.app.path: expected plain path segments');
  });

  it('refuses a duration too long for any timer and a Temporal address with a scheme, at validate', async () => {
    const long = await cli(
      'validate',
      file('r4.yaml', configWith({ rotation: '{ strategy: alternating-users, grace_period: 99999999999999999999d }' })),
    );
    expect(long.err).toContain('secrets.app.rotation.grace_period: expected at most 3650d');
    const scheme = await cli(
      'validate',
      file('r4b.yaml', configWith({}).replace(/address: "127\.0\.0\.1:(\d+)"/, 'address: "http://127.0.0.1:$1"')),
    );
    expect(scheme.err).toContain('temporal.address: expected host:port');
  });

  it('ends a rotation whose admin secret has a bad port as failed, naming it, with nothing changed', async () => {
    const h = await startHarness([{}]);
    try {
      await vaultClient().write(`secret/data/${h.adminPath}`, {
        data: { username: 'postgres', password: 'x', host: '127.0.0.1', port: 'x' },
      });
      const { handle } = await startRotation(h.client, h.taskQueue, h.plan(h.secrets[0].name));
      const { status } = await followRotation(handle);
      expect(status).toMatchObject({ outcome: 'failed', error: { code: 'CONFIG_INVALID' } });
      expect(status.error!.message).toContain('the admin secret has no valid port');
    } finally {
      await h.close();
    }
  });

  it('answers status and history of a secret that cannot be rotated as rotate does', async () => {
    const config = file('r6.yaml', configWith({}));
    for (const command of ['rotate', 'status', 'history']) {
      const run = await cli('--config', config, command, 'admin');
      expect(run.code).toBe(EXIT.BAD_INPUT);
      expect(run.err).toContain('secrets.admin: this secret has no target: and rotation: blocks');
    }
  });

  it('refuses to call an existing file that is not a key file a key file', async () => {
    const run = await cli('keygen', file('not-a-key.yaml', configWith({})));
    expect(run.code).toBe(EXIT.BAD_INPUT);
    expect(run.out).not.toContain('use it with');
  });

  it('lists every field under --json when a config has several problems', async () => {
    const run = await cli(
      '--json',
      'validate',
      file('r8.yaml', configWith({ rotation: '{ strategy: sometimes, grace_period: 5 }' })),
    );
    const doc = JSON.parse(run.out) as { error: { fields: string[] } };
    expect(doc.error.fields).toEqual(['secrets.app.rotation.strategy', 'secrets.app.rotation.grace_period']);
  });
});
