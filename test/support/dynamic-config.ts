// Config for dynamic secrets on the test stack: OpenBao's database engine issues, its KV store publishes.
import type { KeeperState } from '../../workflows/lifecycle-definitions';
import { testStack } from './stack';

export const VAULT_TOKEN_VAR = 'TEST_VAULT_TOKEN';

/** A keeper mid-step, between a store's and OpenBao's states: issuing, publishing or revoking. */
export function keeperBusy(state: Pick<KeeperState, 'phase'>): boolean {
  return state.phase === 'issuing' || state.phase === 'reissuing' || state.phase === 'revoking';
}

export interface DynamicSpec {
  name: string;
  role: string;
  engine: 'postgresql' | 'redis';
  /** Lines under lease:, e.g. `grace_period: 3s`. */
  lease?: string[];
}

export function dynamicYaml(taskQueue: string, specs: DynamicSpec[]): { yaml: string; env: Record<string, string> } {
  const { temporal, vault } = testStack();
  const lines = [
    'temporal:',
    `  address: "${temporal!.address}"`,
    `  task_queue: ${taskQueue}`,
    'providers:',
    '  bao:',
    '    type: vault',
    `    address: "${vault!.address}"`,
    `    token: \${${VAULT_TOKEN_VAR}}`,
    'secrets:',
    ...specs.flatMap((s) => dynamicSecretLines(s, 'bao')),
  ];
  return { yaml: lines.join('\n') + '\n', env: { [VAULT_TOKEN_VAR]: vault!.token } };
}

/** A dynamic secret's entry under `secrets:`, issued by and published to `provider` (the test stack's OpenBao). */
export function dynamicSecretLines(s: DynamicSpec, provider: string): string[] {
  const { postgres, redis, vaultDatabase } = testStack();
  const port = s.engine === 'postgresql' ? postgres!.port : redis!.port;
  return [
    `  ${s.name}:`,
    `    provider: ${provider}`,
    `    path: ${vaultDatabase!.mount}/creds/${s.role}`,
    '    type: dynamic',
    '    publish:',
    `      provider: ${provider}`,
    `      path: secret/data/dynamic/${s.name}`,
    '    lease:',
    ...(s.lease ?? []).map((l) => `      ${l}`),
    '      verify:',
    `        type: ${s.engine}`,
    `        port: ${port}`,
  ];
}
