// The test-process side of the fault-injection harness: one bundle for every worker process, a client, and worker
// processes for a scenario's config (see ./fault-injection.ts for the kill points).
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Client, Connection } from '@temporalio/client';
import { getDataConverter } from '../../src/client/codec/data-converter';
import { spawnFaultyWorker, writeBundle, type FaultyWorker } from './fault-injection';
import { codecKeyEnv, testCodecKeys, workflowBundle } from './harness';
import type { Scenario } from './rotation-scenarios';
import { testStack } from './stack';

export interface FaultHarness {
  keys: ReturnType<typeof testCodecKeys>;
  client: Client;
  /**
   * A worker process for the scenario's config on `taskQueue`, killing itself at `killAt` if given, tracing its steps
   * to `traceFile` (the same file across restarts, so a trace spans every process that ran the rotation).
   */
  worker(scenario: Scenario, taskQueue: string, options?: { killAt?: string }): { worker: FaultyWorker; traceFile: string };
  close(): Promise<void>;
}

export async function startFaultHarness(): Promise<FaultHarness> {
  const keys = testCodecKeys();
  const dir = mkdtempSync(join(tmpdir(), 'rotator-faults-'));
  const bundleFile = writeBundle(dir, (await workflowBundle()).code);
  const connection = await Connection.connect({ address: testStack().temporal!.address });
  const client = new Client({ connection, dataConverter: getDataConverter(keys) });
  return {
    keys,
    client,
    worker(scenario, taskQueue, options = {}) {
      const configFile = join(dir, `${taskQueue}.yaml`);
      const traceFile = join(dir, `${taskQueue}.trace`);
      writeFileSync(configFile, scenario.yaml, { mode: 0o600 });
      const worker = spawnFaultyWorker({
        configFile,
        bundleFile,
        env: { ...scenario.env, ROTATOR_CODEC_KEY: codecKeyEnv(keys) },
        ...(options.killAt ? { killAt: options.killAt } : {}),
        traceFile,
      });
      return { worker, traceFile };
    },
    close: () => connection.close(),
  };
}

/** Runs `fn` over `items`, `concurrency` at a time, results in the order of `items`. */
export async function pool<T, R>(items: T[], concurrency: number, fn: (item: T) => Promise<R>): Promise<R[]> {
  const results: R[] = new Array(items.length);
  let next = 0;
  await Promise.all(
    Array.from({ length: concurrency }, async () => {
      while (next < items.length) {
        const i = next++;
        results[i] = await fn(items[i]!);
      }
    }),
  );
  return results;
}
