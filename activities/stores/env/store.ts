// Read-only store over environment variables, for `secret://` references such as an admin credential.
import { RotatorError } from '../../../src/kernel/errors';
import type { SecretStore, SecretValue, Versioned } from '../../types';
import { CAPABILITIES } from './index';

/**
 * `path` names a variable holding a JSON object (`{"username":…,"password":…}`) or a prefix: `PG_ADMIN` reads
 * PG_ADMIN_USERNAME, PG_ADMIN_PASSWORD, PG_ADMIN_HOST, PG_ADMIN_PORT, PG_ADMIN_DBNAME. Or it maps fields to
 * variables: `username=KAFKA_USER,password=KAFKA_PASS`. `defaults` stand in for variables that are unset or empty.
 */
export class EnvStore implements SecretStore {
  readonly capabilities = CAPABILITIES;

  constructor(
    private readonly env: Readonly<Record<string, string | undefined>>,
    private readonly defaults: Readonly<Record<string, string>> = {},
  ) {}

  private variable(name: string): string | undefined {
    const value = this.env[name];
    return value === undefined || (value === '' && name in this.defaults) ? this.defaults[name] : value;
  }

  async readCurrent(path: string): Promise<Versioned<SecretValue> | null> {
    if (path.includes('=')) {
      const value: SecretValue = {};
      for (const pair of path.split(',')) {
        const [field, name] = pair.split('=') as [string, string];
        const v = this.variable(name);
        if (v !== undefined) value[field] = field === 'port' ? Number(v) : v;
      }
      return Object.keys(value).length > 0 ? { version: 'env', value } : null;
    }
    const whole = this.variable(path);
    if (whole !== undefined) {
      try {
        const parsed: unknown = JSON.parse(whole);
        if (parsed && typeof parsed === 'object' && !Array.isArray(parsed))
          return { version: 'env', value: parsed as SecretValue };
      } catch {
        // not JSON: a single value
      }
      return { version: 'env', value: { value: whole } };
    }
    const value: SecretValue = {};
    for (const field of ['username', 'password', 'host', 'port', 'dbname', 'engine']) {
      const v = this.env[`${path}_${field.toUpperCase()}`];
      if (v !== undefined) value[field] = field === 'port' ? Number(v) : v;
    }
    return Object.keys(value).length > 0 ? { version: 'env', value } : null;
  }

  async readVersion(path: string): Promise<SecretValue | null> {
    return (await this.readCurrent(path))?.value ?? null;
  }

  private readOnly(): never {
    throw new RotatorError('UNSUPPORTED', 'the env provider is read-only: it can be referenced, not rotated', 'provider');
  }

  async stagePending(): Promise<void> {
    this.readOnly();
  }
  async readPending(): Promise<null> {
    return null;
  }
  async otherPending(): Promise<null> {
    return null;
  }
  async publishedBy(): Promise<null> {
    return null;
  }
  async discardPending(): Promise<void> {}
  async promote(): Promise<never> {
    this.readOnly();
  }
  async rollback(): Promise<void> {
    this.readOnly();
  }
  async close(): Promise<void> {}
}
