// The pki target block: what it accepts, and bad input refused with an error naming the field.
import { parseConfig } from '../src/config/load';
import { planRotation } from '../src/config/plan';
import { configError } from './support/config';

function yaml(target: string[], rotation: string[] = []): string {
  return [
    'temporal: { address: "127.0.0.1:7233", task_queue: tq }',
    'providers:',
    '  vault: { type: vault, address: "http://127.0.0.1:8200", token: t }',
    'secrets:',
    '  pki_admin: { provider: vault, path: secret/data/pki-admin }',
    '  web_tls:',
    '    provider: vault',
    '    path: secret/data/web-tls',
    '    target:',
    '      type: pki',
    '      connection: secret://pki_admin',
    '      role: web',
    '      common_name: api.example.test',
    ...target.map((l) => `      ${l}`),
    '    rotation:',
    '      grace_period: 1m',
    ...rotation.map((l) => `      ${l}`),
  ].join('\n');
}

const VERIFY = 'verify: { host: 127.0.0.1, port: 8443 }';

describe('a pki target block', () => {
  it('takes the issued strategy without writing it; the plan names the role and the endpoint', () => {
    const plan = planRotation(parseConfig(yaml([VERIFY, 'alt_names: [localhost]', 'renew_at: 0.5'])), 'web_tls');
    expect(plan.strategy).toBe('issued');
    expect(plan.target).toMatchObject({ type: 'pki', role: 'web', renew_at: 0.5, verify: { host: '127.0.0.1', port: 8443 } });
  });

  it.each([
    [[VERIFY, 'renew_at: 1.5'], 'renew_at', 'between 0 and 1'],
    [['verify: { host: 127.0.0.1, port: 8443, within: 1m }'], 'verify.within', 'at most 20s'],
    [[VERIFY, 'algorithm: dsa'], 'algorithm', ''],
    [[VERIFY, 'ttl: soon'], 'ttl', 'duration'],
    [[], 'verify', ''],
  ])('refuses %j naming %s', (target, field, words) => {
    const message = configError(yaml(target), {});
    expect(message).toContain(field);
    expect(message).toContain(words);
  });

  it('refuses a password strategy for a certificate', () => {
    expect(configError(yaml([VERIFY], ['strategy: single-user']), {})).toContain('rotation.strategy');
  });
});
