// Config for a target that issues its own credentials (aws-iam): its strategy is issued, written or left out; any
// other is refused naming the field, and a database target still has to name one.
import { checkPlan, planRotation } from '../src/config/plan';
import { parseConfig } from '../src/config/load';
import { configError } from './support/config';

const ENV = { VAULT_ADDR: 'http://127.0.0.1:8200', VAULT_TOKEN: 'dev-token' };

const config = (target: string, rotation: string) => `
providers:
  vault:
    type: vault
    address: \${VAULT_ADDR}
    token: \${VAULT_TOKEN}
secrets:
  admin: { provider: vault, path: secret/data/admin }
  keys:
    provider: vault
    path: secret/data/keys
    target: ${target}
    rotation: ${rotation}
`;
const IAM = '{ type: aws-iam, connection: secret://admin, user: ci-deployer }';
const PG = '{ type: postgresql, connection: secret://admin, role: app }';

describe('strategy issued', () => {
  it('is what an issuing target rotates by when its config names no strategy, and when it names issued', () => {
    for (const rotation of ['{ grace_period: 1m }', '{ strategy: issued, grace_period: 1m }']) {
      const plan = planRotation(parseConfig(config(IAM, rotation), ENV), 'keys');
      expect(plan).toMatchObject({ strategy: 'issued', login: 'ci-deployer', verifyQuery: 'sts:GetCallerIdentity' });
      expect(plan.target).toMatchObject({ region: 'us-east-1', when_full: 'refuse', verify_timeout: '15s' });
      expect(checkPlan(plan)).toBe(plan);
    }
  });

  it('refuses another strategy for an issuing target, naming the field', () => {
    expect(configError(config(IAM, '{ strategy: single-user }'), ENV)).toMatch(
      /secrets\.keys\.rotation\.strategy: aws-iam issues its own credentials, so it rotates by issued/,
    );
  });

  it('refuses issued for a database target, and a database target without a strategy', () => {
    expect(configError(config(PG, '{ strategy: issued }'), ENV)).toMatch(
      /secrets\.keys\.rotation\.strategy: postgresql does not support it/,
    );
    expect(configError(config(PG, '{ grace_period: 1m }'), ENV)).toMatch(
      /secrets\.keys\.rotation\.strategy: expected one of alternating-users, single-user, dual-password/,
    );
  });

  it('refuses a plan whose strategy and target disagree, as a worker receives it', () => {
    const plan = planRotation(parseConfig(config(IAM, '{}'), ENV), 'keys');
    expect(() => checkPlan({ ...plan, strategy: 'alternating-users' })).toThrow(
      /plan\.strategy: aws-iam issues its own credentials/,
    );
  });

  it('checks the aws-iam block: user name, region, when_full and verify_timeout', () => {
    expect(configError(config('{ type: aws-iam, connection: secret://admin, user: "a b" }', '{}'), ENV)).toMatch(
      /target\.user: expected an IAM user name/,
    );
    expect(configError(config(`{ type: aws-iam, connection: secret://admin, user: u, region: mars }`, '{}'), ENV)).toMatch(
      /target\.region: expected an AWS region/,
    );
    expect(
      configError(config(`{ type: aws-iam, connection: secret://admin, user: u, when_full: delete-all }`, '{}'), ENV),
    ).toMatch(/target\.when_full/);
    expect(configError(config(`{ type: aws-iam, connection: secret://admin, user: u, verify_timeout: 1m }`, '{}'), ENV)).toMatch(
      /target\.verify_timeout: expected at most 20s/,
    );
  });
});
