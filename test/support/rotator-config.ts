// Config YAML for a rotator on a test or bench stack: one provider, an admin secret in it, and rotatable secrets.
// Jest-free and stack-free (callers pass addresses in), so the bench can build its config with it too.
import type { SecretValue } from '../../activities/types';
import type { StackInfo } from '../../src/stack/local-stack';

export interface SecretEntry {
  name: string;
  /** The config's `path:` for the secret. */
  path: string;
  /** target.type; `connection: secret://<admin>` follows it. */
  type: string;
  /** More lines under target:, unindented, e.g. `role: orders_app`. */
  target: string[];
  /** Lines under rotation:, unindented, e.g. `strategy: single-user`. */
  rotation: string[];
  /** More YAML lines under rotation:, newline-separated, as a test hands them in. */
  extra?: string;
}

export interface RotatorYamlOptions {
  temporalAddress: string;
  taskQueue: string;
  /** The provider's name under providers:, and its block as YAML lines indented for it. */
  provider: { name: string; yaml: string[] };
  /** The admin secret's name under secrets: and its path in the provider. */
  admin: { name: string; path: string };
  secrets: SecretEntry[];
}

const under = (indent: string, lines: string[]) => lines.map((l) => `${indent}${l}`);

export function rotatorYaml({ temporalAddress, taskQueue, provider, admin, secrets }: RotatorYamlOptions): string {
  const lines = [
    'temporal:',
    `  address: "${temporalAddress}"`,
    `  task_queue: ${taskQueue}`,
    'providers:',
    `  ${provider.name}:`,
    ...provider.yaml,
    'secrets:',
    `  ${admin.name}:`,
    `    provider: ${provider.name}`,
    `    path: ${admin.path}`,
  ];
  for (const s of secrets) {
    lines.push(
      `  ${s.name}:`,
      `    provider: ${provider.name}`,
      `    path: ${s.path}`,
      '    target:',
      `      type: ${s.type}`,
      `      connection: secret://${admin.name}`,
      ...under('      ', s.target),
      '    rotation:',
      ...under('      ', s.rotation),
      ...(s.extra ? under('      ', s.extra.split('\n')) : []),
    );
  }
  return lines.join('\n') + '\n';
}

/** A Vault provider block whose token comes from the environment variable `tokenVar`. */
export function vaultProviderYaml(address: string, tokenVar: string): string[] {
  return ['    type: vault', `    address: "${address}"`, `    token: \${${tokenVar}}`];
}

/** The stack's PostgreSQL superuser in the shape stores hold database credentials. */
export function postgresAdminSecret(pg: NonNullable<StackInfo['postgres']>): SecretValue {
  return { username: pg.user, password: pg.password, host: pg.host, port: pg.port, dbname: pg.database, engine: 'postgres' };
}

/** For bundling and MockActivityEnvironment: their chatter is not what a test or the bench is about. */
export const silentLogger = {
  log: () => undefined,
  trace: () => undefined,
  debug: () => undefined,
  info: () => undefined,
  warn: () => undefined,
  error: () => undefined,
};
