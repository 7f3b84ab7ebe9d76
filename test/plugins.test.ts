// The plugin maps are where per-type knowledge lives: config, defaults and registries follow them.
import { spawnSync } from 'node:child_process';
import { join, resolve } from 'node:path';
import { ConsumerRegistry } from '../activities/registry';
import { STORES } from '../activities/stores';
import { TARGETS } from '../activities/targets';
import { parseConfig } from '../src/config/load';
import { planRotation } from '../src/kernel/plan';
import { configError } from './support/config';

const ROOT = resolve(__dirname, '..');
const ENV = { VAULT_TOKEN: 'dev-token' };

const withConsumers = (consumers: string) => `
secrets:
  admin: { provider: vault, path: secret/data/admin }
  db:
    provider: vault
    path: secret/data/db
    target: { type: redis, connection: secret://admin, user: app }
    rotation: { strategy: dual-password }
    consumers: ${consumers}
`;

describe('plugins', () => {
  it("takes each target's login name and default verify command from its plugin", () => {
    const plan = planRotation(parseConfig(withConsumers('[]'), ENV), 'db');
    expect(plan).toMatchObject({ login: 'app', verifyQuery: TARGETS.redis.defaultVerify, consumers: [] });
  });

  it('declares on each target plugin the strategies its capabilities allow', () => {
    for (const plugin of Object.values(TARGETS)) {
      expect((plugin.strategies as readonly string[]).includes('dual-password')).toBe(plugin.capabilities.dualPassword);
    }
  });

  it('lets a secret name a built-in provider undeclared only where the store plugin offers one', () => {
    const builtIns = Object.entries(STORES)
      .filter(([, p]) => 'builtIn' in p)
      .map(([type]) => type)
      .sort();
    expect(builtIns).toEqual(['env', 'file', 'vault']);
  });

  it('parses consumers from their plugins, fills their defaults, and names the field of an unknown one', async () => {
    const plan = planRotation(parseConfig(withConsumers('[{ type: log }]'), ENV), 'db');
    expect(plan.consumers).toEqual([{ type: 'log', message: 'credential rotated' }]);
    const consumers = new ConsumerRegistry();
    await expect(
      (await consumers.consumer(plan.consumers![0])).notify({ secret: 'db', version: '2', username: 'app' }),
    ).resolves.toBeUndefined();
    expect(configError(withConsumers('[{ type: carrier-pigeon }]'), ENV)).toContain('secrets.db.consumers.0');
  });

  it('runs the compiled CLI from bin/rotator: help, and validate on the example config', () => {
    const help = spawnSync(join(ROOT, 'bin/rotator'), ['--help'], { encoding: 'utf8' });
    expect(help.status).toBe(0);
    for (const command of ['validate', 'rotate', 'status', 'list', 'history', 'keygen', 'worker'])
      expect(help.stdout).toContain(command);
    const validate = spawnSync(join(ROOT, 'bin/rotator'), ['validate', join(ROOT, 'examples/rotator.yaml')], {
      encoding: 'utf8',
      env: { ...process.env, VAULT_TOKEN: 'dev-token' },
    });
    expect(validate.stderr).toBe('');
    expect(validate.status).toBe(0);
    expect(validate.stdout).toContain('ok (2 secrets, 1 rotatable)');
  });
});
