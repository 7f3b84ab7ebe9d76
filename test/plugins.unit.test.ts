// The plugin maps are where per-type knowledge lives: config, defaults and registries follow them.
import { ConsumerRegistry } from '../activities/registry';
import { STORES } from '../activities/stores';
import { TARGETS } from '../activities/targets';
import { parseConfig } from '../src/config/load';
import { planRotation } from '../src/config/plan';
import { configError } from './support/config';

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
      const where = (plugin as { dualPasswordWhere?: string }).dualPasswordWhere;
      expect((plugin.strategies as readonly string[]).includes('dual-password')).toBe(
        plugin.capabilities.dualPassword || !!where,
      );
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
});
