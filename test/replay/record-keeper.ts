// The lease keeper's recording for a fixture set: one keeper through a full cycle (issue, renew, re-issue, grace,
// revoke), a fixture per run of its chain. `tsx test/replay/record-keeper.ts v<N>` records it alone into a set; record-lifecycle.ts with the rest.
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import type { temporal } from '@temporalio/proto';
import { startLocalStack } from '../../src/stack/local-stack';
import { KEEP_LEASE, keeperIdFor, keeperStatusQuery } from '../../workflows/lifecycle-definitions';
import { FIXTURES, historyToFixture } from './fixtures';

type Recorded = [name: string, history: temporal.api.history.v1.IHistory, secrets: string[]];

export async function recordKeeperCycle(): Promise<Recorded[]> {
  const { dynamicYaml } = await import('../support/dynamic-config');
  const { unique, vaultClient } = await import('../support/harness');
  const { startRotator } = await import('../support/rotator');
  const { pgRole } = await import('../support/vault-roles');
  const role = await pgRole({ default_ttl: '4s', max_ttl: '14s' });
  const name = unique('dyn');
  const dyn = dynamicYaml(unique('record'), [
    {
      name,
      role,
      engine: 'postgresql',
      lease: ['increment_seconds: 4', 'min_renewal_seconds: 1', 'renew_at: 0.5', 'grace_period: 4s'],
    },
  ]);
  const keeper = await startRotator(dyn.yaml, dyn.env, { codec: false });
  try {
    const handle = await keeper.client.workflow.start(KEEP_LEASE, {
      taskQueue: keeper.config.temporal.task_queue,
      workflowId: keeperIdFor(name),
      args: [{ secret: name }],
    });
    const deadline = Date.now() + 60_000;
    while (((await handle.query(keeperStatusQuery).catch(() => null))?.revoked ?? 0) < 1) {
      if (Date.now() > deadline) throw new Error('the keeper did not finish a cycle');
      await new Promise((r) => setTimeout(r, 200));
    }
    await handle.terminate('recorded');
    // Every password the store held: the recorder refuses a history that holds one.
    const kv = vaultClient();
    const at = `secret/data/dynamic/${name}`;
    const meta = (await kv.read(at.replace('/data/', '/metadata/')).catch(() => null)) as {
      data: { current_version: number };
    } | null;
    const passwords: string[] = [];
    for (let v = 1; v <= (meta?.data.current_version ?? 0); v++) {
      const body = (await kv.read(`${at}?version=${v}`).catch(() => null)) as { data: { data: { password?: string } } } | null;
      if (body?.data.data.password) passwords.push(String(body.data.data.password));
    }
    // Each step of a keeper is a run of its own (run-per-cycle): every run of the chain, first to last.
    const runs: Recorded[] = [];
    for (let runId: string | undefined = handle.firstExecutionRunId; runId;) {
      const history: temporal.api.history.v1.IHistory = await keeper.client.workflow
        .getHandle(handle.workflowId, runId)
        .fetchHistory();
      runs.push([`keep-lease-cycle-run${runs.length + 1}`, history, passwords]);
      runId = history.events?.at(-1)?.workflowExecutionContinuedAsNewEventAttributes?.newExecutionRunId ?? undefined;
    }
    return runs;
  } finally {
    await keeper.close();
  }
}

async function main(): Promise<void> {
  const set = process.argv[2];
  if (!set || !/^v\d+$/.test(set)) throw new Error('name a fixture set: tsx test/replay/record-keeper.ts v<N>');
  fs.mkdirSync(path.join(FIXTURES, set), { recursive: true });
  const stack = await startLocalStack({ services: ['temporal', 'vault', 'postgres', 'redis'] });
  const info = path.join(os.tmpdir(), `rotator-record-${process.pid}.json`);
  try {
    const { stop: _stop, ...stackInfo } = stack;
    fs.writeFileSync(info, JSON.stringify(stackInfo), { mode: 0o600 });
    process.env.ROTATOR_TEST_STACK = info;
    for (const [name, history, secrets] of await recordKeeperCycle()) {
      const json = historyToFixture(history);
      if (secrets.some((p) => json.includes(p) || json.includes(Buffer.from(p).toString('base64'))))
        throw new Error(`${name}: the history holds a password; not writing it`);
      const file = path.join(FIXTURES, set, `${name}.json`);
      fs.writeFileSync(file, json.endsWith('\n') ? json : json + '\n');
      process.stdout.write(`recorded ${path.relative(process.cwd(), file)}\n`);
    }
  } finally {
    fs.rmSync(info, { force: true });
    await stack.stop();
  }
}

if (require.main === module) {
  main().catch((err: unknown) => {
    process.stderr.write(`record failed: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
    process.exit(1);
  });
}
