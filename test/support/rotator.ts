// One rotator on the test stack: a real worker running in the background and a client, for a given config YAML.
import { createHash, randomBytes } from 'node:crypto';
import { mkdirSync, readdirSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { Client, Connection } from '@temporalio/client';
import type { DataConverter } from '@temporalio/common';
import { bundleWorkflowCode, type WorkflowBundle } from '@temporalio/worker';
import { getDataConverter } from '../../src/client/codec/data-converter';
import type { CodecKeys } from '../../src/client/codec/aes-gcm-codec';
import { parseConfig } from '../../src/config/load';
import type { Config } from '../../src/config/schema';
import { planRotation, type RotationPlan } from '../../src/config/plan';
import { createRotatorWorker, WORKFLOWS_PATH, type RotatorWorker } from '../../workers/worker';
import { silentLogger } from './rotator-config';
import { testStack } from './stack';

export function testCodecKeys(): CodecKeys {
  return { activeKeyId: 'test-1', keys: new Map([['test-1', randomBytes(32)]]) };
}

let bundle: Promise<WorkflowBundle> | undefined;
/**
 * The workflow bundle. Building it takes ~3 s of CPU, so it is built once per test run, not once per test file: kept
 * in `.rotator/bundles/` under a hash of every source that can go into it (the TypeScript of workflows/, src/,
 * activities/ and workers/, the lockfile, tsconfig.json and this file). Any edit there builds a new one.
 */
export function workflowBundle(): Promise<WorkflowBundle> {
  bundle ??= cachedBundle();
  return bundle;
}

const ROOT = resolve(__dirname, '../..');

async function cachedBundle(): Promise<WorkflowBundle> {
  const dir = join(ROOT, '.rotator', 'bundles');
  const key = bundleKey();
  const file = join(dir, `${key}.js`);
  try {
    return { code: readFileSync(file, 'utf8') };
  } catch {
    const { code } = await bundleWorkflowCode({ workflowsPath: WORKFLOWS_PATH, logger: silentLogger });
    // Kept only when no source changed while webpack read them, and never at the cost of the bundle just built.
    if (bundleKey() !== key) return { code };
    try {
      mkdirSync(dir, { recursive: true });
      // Renamed into place whole, so a test file beside this one never reads half a bundle.
      const partial = `${file}.${process.pid}.tmp`;
      writeFileSync(partial, code);
      renameSync(partial, file);
      // The bundles of earlier sources are never read again.
      for (const old of readdirSync(dir))
        if (old.endsWith('.js') && join(dir, old) !== file) rmSync(join(dir, old), { force: true });
    } catch {
      // Not kept: the next test file builds its own.
    }
    return { code };
  }
}

function bundleKey(): string {
  const hash = createHash('sha256');
  // This file too: it holds the bundler's options.
  for (const file of ['package-lock.json', 'tsconfig.json', 'test/support/rotator.ts'])
    hash.update(readFileSync(join(ROOT, file)));
  const sources = (dir: string): string[] =>
    readdirSync(join(ROOT, dir), { recursive: true, encoding: 'utf8' })
      .filter((f) => f.endsWith('.ts'))
      .map((f) => join(dir, f));
  for (const file of ['workflows', 'src', 'activities', 'workers'].flatMap(sources).sort()) {
    hash
      .update(file)
      .update('\0')
      .update(readFileSync(join(ROOT, file)))
      .update('\0');
  }
  return hash.digest('hex').slice(0, 32);
}

export interface Rotator {
  config: Config;
  client: Client;
  worker: RotatorWorker;
  dataConverter: DataConverter;
  plan(secret: string): RotationPlan;
  /** Closes the client, stops the worker and waits until it has. */
  close(): Promise<void>;
}

export interface RotatorOptions {
  /** false: no payload codec at all. */
  codec?: boolean;
  /** The codec's keys; fresh ones unless given. */
  keys?: CodecKeys;
}

/** Parses the YAML with `env`, starts a worker on its task queue in the background and connects a client. */
export async function startRotator(yaml: string, env: Record<string, string>, options: RotatorOptions = {}): Promise<Rotator> {
  const config = parseConfig(yaml, env);
  const dataConverter: DataConverter = options.codec === false ? {} : getDataConverter(options.keys ?? testCodecKeys());
  const worker = await createRotatorWorker({ config, dataConverter, workflowBundle: await workflowBundle(), logLevel: 'ERROR' });
  const running = worker.worker.run();
  const connection = await Connection.connect({ address: testStack().temporal!.address });
  const client = new Client({ connection, namespace: config.temporal.namespace, dataConverter });
  return {
    config,
    client,
    worker,
    dataConverter,
    plan: (secret) => planRotation(config, secret),
    async close() {
      await connection.close();
      worker.worker.shutdown();
      await running;
      await worker.close();
    },
  };
}
