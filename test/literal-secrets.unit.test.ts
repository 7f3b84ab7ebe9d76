// validate's literal-secret warning (issue 28 #6): a secret field counts as taken from the environment only when its
// whole value is `${VAR}`; a literal default or text around the reference is a secret written into the file.
import { literalSecretFields } from '../src/config/literal-secrets';

const config = (token: string) =>
  [
    'providers:',
    '  vault:',
    '    type: vault',
    '    address: http://127.0.0.1:8200',
    `    token: ${JSON.stringify(token)}`,
    '',
  ].join('\n');

describe('literal secrets in the config', () => {
  it('takes ${VAR} and ${VAR:-} (no default) as from the environment, and a secret:// reference as a reference', () => {
    expect(literalSecretFields(config('${VAULT_TOKEN}'))).toEqual([]);
    expect(literalSecretFields(config('${VAULT_TOKEN:-}'))).toEqual([]);
    expect(literalSecretFields(config('secret://vault_token'))).toEqual([]);
  });

  it('warns about a literal default, text around the reference, and a plain literal', () => {
    expect(literalSecretFields(config('${VAULT_TOKEN:-hvs.real}'))).toEqual(['providers.vault.token']);
    expect(literalSecretFields(config('abc${X}'))).toEqual(['providers.vault.token']);
    expect(literalSecretFields(config('${X}abc'))).toEqual(['providers.vault.token']);
    expect(literalSecretFields(config('hvs.literal-token'))).toEqual(['providers.vault.token']);
  });
});
