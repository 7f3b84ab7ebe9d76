// One rotator on the test stack: a real worker running in the background and a client, for a given config YAML.
import { randomBytes } from 'node:crypto';
import { readFileSync, writeFileSync } from 'node:fs';
import { Client } from '@temporalio/client';
import type { DataConverter } from '@temporalio/common';
import { bundleWorkflowCode, type WorkflowBundle } from '@temporalio/worker';
import { getDataConverter } from '../../src/client/codec/data-converter';
import type { CodecKeys } from '../../src/client/codec/aes-gcm-codec';
import { parseConfig } from '../../src/config/load';
import type { Config } from '../../src/config/schema';
import { planRotation, type RotationPlan } from '../../src/config/plan';
import { createRotatorWorker, WORKFLOWS_PATH, type RotatorWorker } from '../../workers/worker';
import { keep, partialPath, PRODUCT_SOURCES, reuse, sourceKey } from './build-cache';
import { silentLogger } from './rotator-config';
import { testStack } from './stack';
import { connectTemporal } from '../../src/client/temporal';

export function testCodecKeys(): CodecKeys {
  return { activeKeyId: 'test-1', keys: new Map([['test-1', randomBytes(32)]]) };
}

let bundle: Promise<WorkflowBundle> | undefined;
/**
 * The workflow bundle. Building it takes ~3 s of CPU, so it is built once, not once per test file, and reused: kept
 * in `.rotator/bundles/` under a hash of every source that can go into it (the TypeScript of workflows/, src/,
 * activities/ and workers/, the lockfile, tsconfig.json and this file). Any edit there builds a new one.
 */
export function workflowBundle(): Promise<WorkflowBundle> {
  bundle ??= cachedBundle();
  return bundle;
}

async function cachedBundle(): Promise<WorkflowBundle> {
  const key = bundleKey();
  const found = reuse('bundles', `${key}.js`);
  if (found) {
    try {
      return { code: readFileSync(found, 'utf8') };
    } catch {
      // Removed since (another run's sources): built below.
    }
  }
  const { code } = await bundleWorkflowCode({ workflowsPath: WORKFLOWS_PATH, logger: silentLogger });
  // Kept only when no source changed while webpack read them, and never at the cost of the bundle just built.
  if (bundleKey() !== key) return { code };
  try {
    const partial = partialPath('bundles', key);
    writeFileSync(partial, code);
    keep('bundles', partial, `${key}.js`);
  } catch {
    // Not kept: the next test file builds its own.
  }
  return { code };
}

// This file too: it holds the bundler's options.
const bundleKey = () =>
  sourceKey({ files: ['package-lock.json', 'tsconfig.json', 'test/support/rotator.ts'], dirs: PRODUCT_SOURCES });

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
  const connection = await connectTemporal({ address: testStack().temporal!.address });
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
