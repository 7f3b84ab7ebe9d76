// Config for trigger tests: N rotatable PostgreSQL secrets in Vault and a `triggers:` block mapping events to them.
import type { Client } from '@temporalio/client';
import { parseConfig } from '../../src/config/load';
import { logger } from '../../src/kernel/log';
import { createDispatch } from '../../src/listener/dispatch';
import type { Dispatch } from '../../src/listener/events';
import { unique, seedAdmin, testEnv } from './harness';
import { vaultTestStore } from './test-stores';
import { testStack } from './stack';

export interface TriggerSetupOptions {
  secrets: number;
  /** YAML lines under `sources:` (indented for it). */
  sources: string[];
  /** Rules for secret i, as YAML list items (indented under `rules:`); default: none. */
  rules: (secret: string, i: number) => string[];
  /** Lines for each secret's `consumers:` list (indented under it). */
  consumers?: string[];
  /** Lines under each secret's rotation: block. */
  rotation?: string[];
  /** More secrets, as YAML lines indented under secrets: (e.g. a webhook's key). */
  moreSecrets?: string[];
}

export async function triggerConfig(options: TriggerSetupOptions): Promise<{
  yaml: string;
  env: Record<string, string>;
  taskQueue: string;
  secrets: string[];
}> {
  const taskQueue = unique('tq');
  const adminPath = `test/${unique('pg_admin')}`;
  await seedAdmin(adminPath);
  const vault = vaultTestStore();
  const secrets = Array.from({ length: options.secrets }, () => unique('db'));
  const lines = [
    'temporal:',
    `  address: "${testStack().temporal!.address}"`,
    `  task_queue: ${taskQueue}`,
    'providers:',
    '  vault:',
    ...vault.providerYaml,
    'secrets:',
    '  pg_admin:',
    '    provider: vault',
    `    path: secret/data/${adminPath}`,
    ...(options.moreSecrets ?? []),
  ];
  for (const name of secrets) {
    lines.push(
      `  ${name}:`,
      '    provider: vault',
      `    path: ${vault.configPath(name)}`,
      '    target:',
      '      type: postgresql',
      '      connection: secret://pg_admin',
      `      role: ${unique('app')}`,
      '    rotation:',
      '      strategy: alternating-users',
      '      drain: { timeout: 1s }',
      ...(options.rotation ?? []).map((l) => `      ${l}`),
      ...(options.consumers ? ['    consumers:', ...options.consumers.map((l) => `      ${l}`)] : []),
    );
  }
  lines.push(
    'triggers:',
    '  listen: { host: 127.0.0.1, port: 0 }',
    '  sources:',
    ...options.sources,
    '  rules:',
    ...secrets.flatMap((s, i) => options.rules(s, i).map((l) => `    ${l}`)),
  );
  return { yaml: lines.join('\n') + '\n', env: testEnv(), taskQueue, secrets };
}

/** The listener's dispatcher for a built config, in this process: events straight to its rules and Temporal. */
export function dispatchFor(built: { yaml: string; env: Record<string, string>; taskQueue: string }, client: Client): Dispatch {
  const triggers = parseConfig(built.yaml, built.env).triggers!;
  return createDispatch({ client, taskQueue: built.taskQueue, triggers, log: logger });
}
