// npm run bench, MySQL line: alternating-users rotations of MariaDB accounts (granted one role) through Temporal versus
// the same activity calls made bare, one at a time and several in flight; prints each with its ratio to the bare calls.
import { Client } from '@temporalio/client';
import { bundleWorkflowCode } from '@temporalio/worker';
import { randomBytes } from 'node:crypto';
import vault from 'node-vault';
import { ConsumerRegistry, ProviderRegistry, TargetRegistry } from '../../activities/registry';
import { adminSecret, asAdmin } from '../../activities/targets/mysql/test-support';
import { getDataConverter } from '../../src/client/codec/data-converter';
import { parseConfig } from '../../src/config/load';
import { planRotation } from '../../src/config/plan';
import { startRotation } from '../../src/client/rotations';
import { startLocalStack, type LocalStack } from '../../src/stack/local-stack';
import type { RotationStatus } from '../../workflows/definitions';
import { createRotatorWorker, WORKFLOWS_PATH } from '../../workers/worker';
import { rotatorYaml, vaultProviderYaml } from '../support/rotator-config';
import {
  bareRotation,
  createActivities,
  parseFlags,
  runPool,
  secretNames,
  silentLogger,
  summarize,
  type Summary,
  runBench,
} from './common';
import { connectTemporal } from '../../src/client/temporal';

const log = (line: string) => process.stderr.write(`bench mysql: ${line}\n`);

async function main(): Promise<void> {
  const { count, concurrency } = parseFlags(process.argv.slice(2), { count: 60, concurrency: 10 });
  const t0 = performance.now();
  let stack: LocalStack | undefined;
  const onSignal = (sig: NodeJS.Signals) => {
    log(`${sig}: stopping the stack`);
    void (stack?.stop() ?? Promise.resolve()).finally(() => process.exit(130));
  };
  process.once('SIGINT', onSignal).once('SIGTERM', onSignal);
  try {
    const [started, workflowBundle] = await Promise.all([
      startLocalStack({ services: ['temporal', 'vault', 'mariadb'], log }),
      bundleWorkflowCode({ workflowsPath: WORKFLOWS_PATH, logger: silentLogger }),
    ]);
    stack = started;
    const mariadb = stack.mariadb!;
    const run = randomBytes(3).toString('hex');
    const role = `bench_rw_${run}`;
    await asAdmin(mariadb, `CREATE ROLE ${role}`, `GRANT SELECT ON mysql.db TO ${role}`);
    const adminPath = `bench/mysql_admin_${run}`;
    await vault({ apiVersion: 'v1', endpoint: stack.vault!.address, token: stack.vault!.token }).write(
      `secret/data/${adminPath}`,
      {
        data: adminSecret(mariadb),
      },
    );
    const taskQueue = `bench-mysql-${run}`;
    const baseNames = secretNames('mb', count);
    const wfNames = secretNames('mw', count);
    const yaml = rotatorYaml({
      temporalAddress: stack.temporal!.address,
      taskQueue,
      provider: { name: 'vault', yaml: vaultProviderYaml(stack.vault!.address, 'BENCH_VAULT_TOKEN') },
      admin: { name: 'mysql_admin', path: `secret/data/${adminPath}` },
      secrets: [...baseNames, ...wfNames].map((n) => ({
        name: n,
        path: `secret/data/bench/${run}/${n}`,
        type: 'mysql',
        target: [`user: b${run}_${n}`, `role: ${role}`],
        rotation: ['strategy: alternating-users', 'grace_period: 0s', 'reconnect: { wait: 0s }', 'drain: { timeout: 1s }'],
      })),
    });
    const config = parseConfig(yaml, { BENCH_VAULT_TOKEN: stack.vault!.token });
    log(
      `stack and bundle ready in ${((performance.now() - t0) / 1000).toFixed(1)} s; ${count} secrets, ${concurrency} in flight`,
    );

    const providers = new ProviderRegistry(config.providers);
    const targets = new TargetRegistry();
    const acts = createActivities({ providers, targets, consumers: new ConsumerRegistry() });
    const basePlans = baseNames.map((n) => planRotation(config, n));
    let bare: Summary;
    let bareSerial: Summary;
    try {
      await runPool(basePlans, concurrency, (p) => bareRotation(acts, p));
      bare = summarize(await runPool(basePlans, concurrency, (p) => bareRotation(acts, p)));
      bareSerial = summarize(await runPool(basePlans, 1, (p) => bareRotation(acts, p)));
    } finally {
      await providers.close();
      await targets.close();
    }

    const dataConverter = getDataConverter({ activeKeyId: 'bench', keys: new Map([['bench', randomBytes(32)]]) });
    const rotator = await createRotatorWorker({
      config,
      dataConverter,
      workflowBundle,
      logLevel: 'ERROR',
      tuning: { maxConcurrentActivityTaskExecutions: 200, maxConcurrentWorkflowTaskExecutions: 40, maxCachedWorkflows: 200 },
    });
    const running = rotator.worker.run();
    const connection = await connectTemporal({ address: stack.temporal!.address });
    const client = new Client({ connection, namespace: config.temporal.namespace, dataConverter });
    let workflow: Summary;
    let workflowSerial: Summary;
    try {
      const wfPlans = wfNames.map((n) => planRotation(config, n));
      const rotate = async (plan: (typeof wfPlans)[number]) => {
        const { handle } = await startRotation(client, taskQueue, plan, 'bench');
        const status = (await handle.result()) as RotationStatus;
        if (status.outcome !== 'succeeded') throw new Error(`rotation of ${plan.secret} ended ${status.outcome}`);
      };
      await runPool(wfPlans, concurrency, rotate);
      workflow = summarize(await runPool(wfPlans, concurrency, rotate));
      workflowSerial = summarize(await runPool(wfPlans, 1, rotate));
    } finally {
      await connection.close();
      rotator.worker.shutdown();
      await running;
      await rotator.close();
    }

    const f = (n: number, d = 0) => n.toFixed(d);
    const out = [
      `\nmysql alternating-users (MariaDB ${mariadb.host}:${mariadb.port}, logins granted one role), ${count} secrets`,
      `${'run'.padEnd(34)}${'p50 ms'.padStart(9)}${'p95 ms'.padStart(9)}${'rot/s'.padStart(9)}`,
      ...(
        [
          ['bare calls, one at a time', bareSerial],
          ['workflow, one at a time', workflowSerial],
          [`bare calls, ${concurrency} in flight`, bare],
          [`workflow, ${concurrency} in flight`, workflow],
        ] as const
      ).map(([name, s]) => `${name.padEnd(34)}${f(s.p50).padStart(9)}${f(s.p95).padStart(9)}${f(s.perSecond, 1).padStart(9)}`),
      `mysql alternating-users: workflow/bare p50 ${f(workflowSerial.p50 / bareSerial.p50, 2)}x one at a time, ` +
        `throughput ${f(workflow.perSecond / bare.perSecond, 2)}x with ${concurrency} in flight`,
    ];
    process.stdout.write(out.join('\n') + '\n');
    log(`total ${((performance.now() - t0) / 1000).toFixed(1)} s`);
  } finally {
    await stack?.stop();
  }
}

runBench(main, log);
