// The rotator CLI against the real stack: exit codes, progress, one rotation per secret, nothing secret printed.
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { EXIT } from '../src/cli/main';
import { cli } from './support/cli';
import { adminQuery, codecKeyEnv, readStore, startHarness, testCodecKeys, testEnv, type Harness } from './support/harness';

describe('rotator CLI', () => {
  let h: Harness;
  let configFile: string;
  let dir: string;
  const saved = { ...process.env };

  beforeAll(async () => {
    const keys = testCodecKeys();
    Object.assign(process.env, testEnv(), { ROTATOR_CODEC_KEY: codecKeyEnv(keys) });
    // The second secret's reconnect wait keeps its rotation running long enough to be raced.
    // The fourth's verify query fails, so its rotation fails in create and is rolled back.
    h = await startHarness(
      [{}, { extra: 'reconnect: { wait: 2s }' }, {}, { extra: 'verify: { query: "select * from no_such_table" }' }],
      { keys },
    );
    dir = mkdtempSync(join(tmpdir(), 'rotator-cli-'));
    configFile = join(dir, 'rotator.yaml');
    writeFileSync(configFile, h.yaml, { mode: 0o600 });
  });
  afterAll(async () => {
    await h.close();
    process.env = saved;
  });

  it('validates a good config and exits 0', async () => {
    const run = await cli('validate', configFile);
    expect(run.code).toBe(EXIT.OK);
    expect(run.out).toContain('ok (5 secrets, 4 rotatable)');
  });

  it('rejects a malformed config naming the field, and changes nothing when asked to rotate with it', async () => {
    const { name, role } = h.secrets[2];
    const bad = join(dir, 'bad.yaml');
    writeFileSync(bad, h.yaml.replace(/strategy: alternating-users/g, 'strategy: alternate'));
    const validate = await cli('validate', bad);
    expect(validate.code).toBe(EXIT.BAD_INPUT);
    expect(validate.err).toContain(
      `secrets.${name}.rotation.strategy: expected one of alternating-users, single-user, dual-password`,
    );

    const rotate = await cli('--config', bad, 'rotate', name, '--wait');
    expect(rotate.code).toBe(EXIT.BAD_INPUT);
    expect(rotate.err).toContain(`secrets.${name}.rotation.strategy`);
    expect(await readStore(`test/${name}`)).toBeNull();
    expect(await adminQuery('select rolname from pg_roles where rolname like $1', [`${role}%`])).toEqual([]);
    const runs = [];
    for await (const wf of h.client.workflow.list({ query: `WorkflowId = 'rotate/${name}'` })) runs.push(wf);
    expect(runs).toEqual([]);
  });

  it('rotates with --wait, showing each phase with its timing and no secret value', async () => {
    const { name, role } = h.secrets[0];
    const first = await cli('--config', configFile, 'rotate', name, '--wait');
    expect(first.code).toBe(EXIT.OK);
    const second = await cli('--config', configFile, 'rotate', name, '--wait');
    expect(second.code).toBe(EXIT.OK);
    for (const phase of ['create', 'publish', 'reconnect', 'verify', 'revoke'])
      expect(second.out).toMatch(new RegExp(`✓ ${phase}\\s+\\d+ ms`));
    expect(second.out).toContain(`${role}_a → ${role}_b`);
    expect(second.out).toContain(`revoked    ${role}_a`);
    const printed = first.out + first.err + second.out + second.err;
    for (const v of ['1', '2']) expect(printed).not.toContain(String((await readStore(`test/${name}`, v))!.data.password));

    const status = await cli('--config', configFile, '--json', 'status', name);
    expect(status.code).toBe(EXIT.OK);
    expect(JSON.parse(status.out)).toMatchObject({ secret: name, outcome: 'succeeded', username: `${role}_b`, version: '2' });
    const history = await cli('--config', configFile, '--json', 'history', name);
    expect(JSON.parse(history.out).map((r: { status: string }) => r.status)).toEqual(['COMPLETED', 'COMPLETED']);
    const list = await cli('--config', configFile, 'list');
    expect(list.out).toMatch(new RegExp(`${name}\\s+alternating-users\\s+succeeded`));
  });

  it('runs one rotation when two rotate commands race; the second follows the first', async () => {
    const { name } = h.secrets[1];
    const [a, b] = await Promise.all([
      cli('--config', configFile, 'rotate', name, '--wait'),
      cli('--config', configFile, 'rotate', name, '--wait'),
    ]);
    expect([a.code, b.code]).toEqual([EXIT.OK, EXIT.OK]);
    expect([a.err, b.err].filter((e) => e.includes('already running'))).toHaveLength(1);
    const history = await cli('--config', configFile, '--json', 'history', name);
    expect(JSON.parse(history.out)).toHaveLength(1);
  });

  it('says a rotation is already running, exit 3, when not asked to follow it', async () => {
    const { name } = h.secrets[1];
    const started = await cli('--config', configFile, '--json', 'rotate', name);
    expect(started.code).toBe(EXIT.OK);
    expect(JSON.parse(started.out)).toMatchObject({ secret: name, started: true });
    const again = await cli('--config', configFile, 'rotate', name);
    expect(again.code).toBe(EXIT.ALREADY_RUNNING);
    expect(again.out).toContain(`a rotation of ${name} is already running`);
    await h.client.workflow.getHandle(`rotate/${name}`).result();
  });

  it('warns when no worker polls the task queue, so a rotation would only wait', async () => {
    const { name } = h.secrets[2];
    const idle = join(dir, 'idle.yaml');
    writeFileSync(idle, h.yaml.replace(`task_queue: ${h.taskQueue}`, 'task_queue: nobody-polls-this'));
    const run = await cli('--config', idle, 'rotate', name);
    try {
      expect(run.code).toBe(EXIT.OK);
      expect(run.err).toContain('no worker is polling task queue nobody-polls-this');
    } finally {
      await h.client.workflow.getHandle(`rotate/${name}`).terminate('test cleanup');
    }
    const busy = await cli('--config', configFile, 'rotate', h.secrets[0].name, '--json');
    expect(busy.err).not.toContain('no worker');
    await h.client.workflow.getHandle(`rotate/${h.secrets[0].name}`).result();
  });

  it('marks a failed phase ✗ in rotate --wait, as status and audit mark it', async () => {
    const { name } = h.secrets[3];
    const run = await cli('--config', configFile, 'rotate', name, '--wait');
    expect(run.code).toBe(EXIT.ROTATION_FAILED);
    expect(run.out).toMatch(/✗ create\s+\d+ ms/);
    expect(run.out).toMatch(/✓ rollback\s+\d+ ms/);
    expect(run.out).not.toMatch(/✓ create/);
    expect(run.out).toContain('rolled-back');
    const status = await cli('--config', configFile, 'status', name);
    expect(status.out).toMatch(/✗ create\s+\d+ ms/);
    expect(status.out).toMatch(/✓ rollback\s+\d+ ms/);
    const audit = await cli('--config', configFile, 'audit', name, '--limit', '1');
    expect(audit.out).toMatch(/✗ create\s+\d+ ms/);
    expect(audit.out).toMatch(/✓ rollback\s+\d+ ms/);
  });

  // That rotate names the run its start created, not the latest run of the id: test/start-rotation-run.test.ts
  // (deterministic, where a CLI-level race depended on timing).

  it('answers bad arguments with exit 2 and unknown secrets with exit 4', async () => {
    expect((await cli('--config', configFile, 'rotate', 'bad name!')).code).toBe(EXIT.BAD_INPUT);
    expect((await cli('--config', configFile, 'history', h.secrets[0].name, '--limit', 'zero')).code).toBe(EXIT.BAD_INPUT);
    const unknown = await cli('--config', configFile, 'rotate', 'nope');
    expect(unknown.code).toBe(EXIT.NOT_FOUND);
    expect(unknown.err).toContain('no secret named "nope"');
    expect((await cli('--config', join(dir, 'missing.yaml'), 'list')).code).toBe(EXIT.BAD_INPUT);
  });

  it('refuses a rotate flag that does not apply, naming it, and starts nothing', async () => {
    const { name } = h.secrets[2];
    const refused: Array<[string[], string]> = [
      [[name, '--new'], '--new'],
      [[name, '--detach'], '--detach'],
      [[name, '--max-concurrent', '3'], '--max-concurrent'],
      [[name, '--timeout', '5s'], '--timeout'],
      [[name, '--unreachable-timeout', '5s'], '--unreachable-timeout'],
      [['--all', '--detach', '--wait'], '--wait'],
      [['--all', '--detach', '--timeout', '5s'], '--timeout'],
      [['--selector', `name=${name}`, '--unreachable-timeout', '5s'], '--unreachable-timeout'],
    ];
    // The runs on this test's task queue started since the refused commands began: none. (Listing all of them before
    // and after compared two reads of an eventually consistent index: a run of an earlier test could show up between.)
    const since = new Date().toISOString();
    const runs = async () => {
      const found: string[] = [];
      for await (const wf of h.client.workflow.list({ query: `TaskQueue = '${h.taskQueue}' AND StartTime >= '${since}'` }))
        found.push(`${wf.workflowId}/${wf.runId}`);
      return found.sort();
    };
    expect(await runs()).toEqual([]);
    for (const [args, flag] of refused) {
      const run = await cli('--config', configFile, 'rotate', ...args);
      expect({ args, code: run.code }).toEqual({ args, code: EXIT.BAD_INPUT });
      expect(run.err).toContain(`${flag} `);
      expect(run.err).toContain('nothing was started');
    }
    expect(await runs()).toEqual([]);
  });

  it('rotate --selector --timeout stops following when it passes, saying the run goes on', async () => {
    const { name } = h.secrets[2];
    // No worker polls this queue: the run cannot end, so only --timeout ends the command.
    const idle = join(dir, 'idle-mass.yaml');
    writeFileSync(idle, h.yaml.replace(`task_queue: ${h.taskQueue}`, 'task_queue: nobody-polls-mass'));
    const run = await cli('--config', idle, 'rotate', '--selector', `name=${name}`, '--wait', '--timeout', '1s');
    const runId = /started mass rotation (\S+):/.exec(run.err)?.[1];
    try {
      expect(run.code).toBe(EXIT.UNAVAILABLE);
      expect(run.err).toContain(`mass rotation ${runId} is still running after --timeout 1s; it goes on without this command`);
    } finally {
      if (runId) await h.client.workflow.getHandle(runId).terminate('test cleanup');
    }
  });
});
