// The lease keeper's recordings for a fixture set: a keeper runs one step per run (keeper-run-per-cycle), so one
// cycle is a chain of runs; the first run of each kind is recorded: the issue, a renewal, the re-issue and the revoke.
// `tsx test/replay/record-keeper.ts v<N>` records them alone into a set; record-lifecycle.ts records them with the rest.
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import type { temporal } from '@temporalio/proto';
import { startLocalStack } from '../../src/stack/local-stack';
import { KEEP_LEASE, keeperIdFor, keeperStatusQuery } from '../../workflows/lifecycle-definitions';
import { FIXTURES, historyToFixture } from './fixtures';

type Recorded = [name: string, history: temporal.api.history.v1.IHistory, secrets: string[]];

const KINDS = ['issue', 'renew', 'reissue', 'revoke'] as const;

/** What a run of the keeper did: the step it took, read from its history. */
function kindOf(history: temporal.api.history.v1.IHistory, issuedBefore: boolean): (typeof KINDS)[number] | null {
  const scheduled = (history.events ?? []).map((e) => e.activityTaskScheduledEventAttributes?.activityType?.name);
  if (scheduled.includes('issueCredential')) return issuedBefore ? 'reissue' : 'issue';
  if (scheduled.includes('revokeLease')) return 'revoke';
  const markers = (history.events ?? []).flatMap((e) =>
    (e.markerRecordedEventAttributes?.details?.data?.payloads ?? []).map((p) => Buffer.from(p.data ?? []).toString()),
  );
  return markers.some((m) => m.includes('renewLease')) ? 'renew' : null;
}

export async function recordKeeperRuns(): Promise<Recorded[]> {
  const { dynamicYaml } = await import('../support/dynamic-config');
  const { unique, vaultClient } = await import('../support/harness');
  const { startRotator } = await import('../support/rotator');
  const { pgRole } = await import('../support/vault-roles');
  const role = await pgRole({ default_ttl: '4s', max_ttl: '12s' });
  const name = unique('dyn');
  const dyn = dynamicYaml(unique('record'), [
    {
      name,
      role,
      engine: 'postgresql',
      lease: ['increment_seconds: 4', 'min_renewal_seconds: 1', 'renew_at: 0.5', 'grace_period: 2s'],
    },
  ]);
  const keeper = await startRotator(dyn.yaml, dyn.env, { codec: false });
  const recorded: Recorded[] = [];
  try {
    const first = await keeper.client.workflow.start(KEEP_LEASE, {
      taskQueue: keeper.config.temporal.task_queue,
      workflowId: keeperIdFor(name),
      args: [{ secret: name }],
    });
    const latest = keeper.client.workflow.getHandle(keeperIdFor(name));
    const deadline = Date.now() + 60_000;
    while (((await latest.query(keeperStatusQuery).catch(() => null))?.revoked ?? 0) < 1) {
      if (Date.now() > deadline) throw new Error('the keeper did not finish a cycle');
      await new Promise((r) => setTimeout(r, 200));
    }
    await latest.terminate('recorded');
    // Every password the store held: the recorder refuses a history that holds one.
    const kv = vaultClient();
    const path_ = `secret/data/dynamic/${name}`;
    const meta = (await kv.read(path_.replace('/data/', '/metadata/')).catch(() => null)) as {
      data: { current_version: number };
    } | null;
    const passwords: string[] = [];
    for (let v = 1; v <= (meta?.data.current_version ?? 0); v++) {
      const body = (await kv.read(`${path_}?version=${v}`).catch(() => null)) as { data: { data: { password?: string } } } | null;
      if (body?.data.data.password) passwords.push(String(body.data.data.password));
    }
    // Walk the chain from its first run: each run ends by continuing as new, naming the next.
    const seen = new Set<string>();
    let issued = false;
    for (let runId: string | null | undefined = first.firstExecutionRunId; runId;) {
      const history: temporal.api.history.v1.IHistory = await keeper.client.workflow
        .getHandle(keeperIdFor(name), runId)
        .fetchHistory();
      const kind = kindOf(history, issued);
      if (kind === 'issue' || kind === 'reissue') issued = true;
      if (kind && !seen.has(kind)) {
        seen.add(kind);
        recorded.push([`keep-lease-cycle-${kind}`, history, passwords]);
      }
      const last: temporal.api.history.v1.IHistoryEvent | undefined = history.events?.[history.events.length - 1];
      runId = last?.workflowExecutionContinuedAsNewEventAttributes?.newExecutionRunId;
    }
    const missing = KINDS.filter((k) => !seen.has(k));
    if (missing.length > 0) throw new Error(`the keeper's runs had no ${missing.join(', ')}`);
  } finally {
    await keeper.close();
  }
  return recorded;
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
    for (const [name, history, secrets] of await recordKeeperRuns()) {
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
