// `npm run demo`: the embedded local stack, two rotations through the real CLI, and proof of what logs in.
import { readFileSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import vault from 'node-vault';
import { canLogIn } from '../../activities/targets/postgresql/public';
import { runCli } from '../cli/main';
import { loadConfig } from '../config/load';
import { prepareExampleStack } from '../stack/example';
import { startLocalStack, type LocalStack } from '../stack/local-stack';
import { dataConverterFromEnv } from '../client/temporal';
import { createRotatorWorker } from '../../workers/worker';

const EXAMPLE = resolve(__dirname, '../../examples/rotator.yaml');

function say(line = ''): void {
  process.stdout.write(`${line}\n`);
}

function logsIn(stack: LocalStack, username: string, password: string): Promise<boolean> {
  return canLogIn(stack.postgres!, { username, password });
}

async function main(): Promise<number> {
  say('rotator demo: a PostgreSQL credential rotated by a durable Temporal workflow, secrets kept in OpenBao.');
  say('starting the embedded local stack (Temporal dev server, OpenBao, PostgreSQL) on free loopback ports …');
  const stack = await startLocalStack({ services: ['temporal', 'vault', 'postgres'] });
  let worker: Awaited<ReturnType<typeof createRotatorWorker>> | undefined;
  let running: Promise<void> | undefined;
  try {
    // The same example config a user starts from, pointed at this stack through its ${ENV} references.
    Object.assign(process.env, await prepareExampleStack(stack));
    const configFile = join(stack.dir, 'rotator.yaml');
    writeFileSync(configFile, readFileSync(EXAMPLE, 'utf8'), { mode: 0o600 });
    const config = loadConfig(configFile);
    const kv = vault({ apiVersion: 'v1', endpoint: stack.vault!.address, token: stack.vault!.token });
    say(`stack ready; admin credential stored in OpenBao at secret/prod/pg-admin; config ${configFile}`);

    worker = await createRotatorWorker({ config, dataConverter: dataConverterFromEnv(), logLevel: 'WARN' });
    running = worker.worker.run();

    const rotations: Array<{ username: string; password: string }> = [];
    for (const n of [1, 2]) {
      say();
      say(`$ rotator rotate orders_db --wait      # rotation ${n}`);
      const code = await runCli(['--config', configFile, 'rotate', 'orders_db', '--wait'], {
        out: (l) => say(l),
        err: (l) => say(l),
      });
      if (code !== 0) throw new Error(`rotation ${n} failed (exit ${code})`);
      const current = await kv.read('secret/data/prod/orders-db');
      rotations.push({ username: current.data.data.username, password: current.data.data.password });
    }

    say();
    say('$ rotator history orders_db');
    await runCli(['--config', configFile, 'history', 'orders_db'], { out: (l) => say(l), err: (l) => say(l) });

    const [old, current] = rotations;
    const newOk = await logsIn(stack, current.username, current.password);
    const oldOk = await logsIn(stack, old.username, old.password);
    say();
    say(`${newOk ? '✓' : '✗'} the new credential (${current.username}, current version in OpenBao) logs in`);
    say(`${!oldOk ? '✓' : '✗'} the old credential (${old.username}, previous version) is refused`);
    say('  (neither password was printed: the CLI, logs and workflow history carry references only)');
    return newOk && !oldOk ? 0 : 1;
  } finally {
    if (worker) {
      worker.worker.shutdown();
      await running;
      await worker.close();
    }
    await stack.stop();
  }
}

main().then(
  (code) => process.exit(code),
  (err: unknown) => {
    process.stderr.write(`demo failed: ${err instanceof Error ? err.message : String(err)}\n`);
    process.exit(1);
  },
);
