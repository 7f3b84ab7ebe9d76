// secret:// URIs as the L5 spec writes them: every form parsed, each malformed variant refused naming what is wrong.
import { SECRET_REF } from '../src/config/schema';
import { RotatorError } from '../src/kernel/errors';
import { describeSecretUri, parseSecretUri } from '../src/kernel/uri';

/** The error a malformed URI is refused with. */
function refusal(text: string, field?: string): RotatorError {
  try {
    parseSecretUri(text, field);
  } catch (err) {
    if (err instanceof RotatorError) return err;
    throw err;
  }
  throw new Error(`expected ${text} to be refused`);
}

describe('parseSecretUri', () => {
  it.each([
    ['secret://mongo_connection', { secret: 'mongo_connection' }],
    ['secret://kafka_credentials/password', { secret: 'kafka_credentials', key: 'password' }],
    ['secret://api_key?version=2', { secret: 'api_key', version: '2' }],
    ['secret://db/password?version=3', { secret: 'db', key: 'password', version: '3' }],
    ['secret://optional_secret/key?default=default_value', { secret: 'optional_secret', key: 'key', default: 'default_value' }],
    ['secret://opt?default=x&version=7', { secret: 'opt', version: '7', default: 'x' }],
    ['secret://opt/k?version=7&default=x', { secret: 'opt', key: 'k', version: '7', default: 'x' }],
    ['secret://a.b-c_9/field.name-1', { secret: 'a.b-c_9', key: 'field.name-1' }],
    [
      'secret://sm?version=a1b2c3d4-0000-4000-8000-00000000abcd',
      { secret: 'sm', version: 'a1b2c3d4-0000-4000-8000-00000000abcd' },
    ],
    ['secret://k8s?version=rv-1234', { secret: 'k8s', version: 'rv-1234' }],
  ])('reads %s', (text, expected) => {
    expect(parseSecretUri(text)).toEqual(expected);
  });

  it('percent-decodes the default, reading + as a space as a query string does', () => {
    expect(parseSecretUri('secret://s/k?default=p%40ss%2Fw%3Drd%26more').default).toBe('p@ss/w=rd&more');
    expect(parseSecretUri('secret://s/k?default=two+words').default).toBe('two words');
    expect(parseSecretUri('secret://s/k?default=a%2Bb').default).toBe('a+b');
    expect(parseSecretUri('secret://s/k?default=caf%C3%A9').default).toBe('café');
    expect(parseSecretUri('secret://s/k?default=a=b').default).toBe('a=b');
  });

  it('takes an empty default, with or without its =, as the empty text', () => {
    expect(parseSecretUri('secret://s/k?default=')).toEqual({ secret: 's', key: 'k', default: '' });
    expect(parseSecretUri('secret://s/k?default')).toEqual({ secret: 's', key: 'k', default: '' });
  });

  it.each([
    ['mongo_connection', 'expected secret://<name> or secret://<name>/<key>'],
    ['vault://db/password', 'expected secret://<name> or secret://<name>/<key>'],
    ['secret:/db', 'expected secret://<name> or secret://<name>/<key>'],
    ['secret://', 'names no secret'],
    ['secret:///password', 'names no secret'],
    ['secret://?version=2', 'names no secret'],
    ['secret://-db', 'expected a secret name of letters, digits, _ . -'],
    ['secret://my db', 'expected a secret name of letters, digits, _ . -'],
    ['secret://' + 'a'.repeat(64), 'expected a secret name of letters, digits, _ . - (at most 63'],
    ['secret://db/', 'names an empty key (a trailing /)'],
    ['secret://db/a/b', 'names a key with a /'],
    ['secret://db/pass word', 'expected a key of letters, digits, _ . -'],
    ['secret://db/p%41ss', 'expected a key of letters, digits, _ . -'],
    ['secret://db?', 'has an empty query parameter'],
    ['secret://db?version=2&', 'has an empty query parameter'],
    ['secret://db?version=2&&default=x', 'has an empty query parameter'],
    ['secret://db?=x', 'has an empty query parameter'],
    ['secret://db?stage=AWSPREVIOUS', 'has an unknown query parameter "stage"; expected version= or default='],
    ['secret://db?Version=2', 'has an unknown query parameter "Version"'],
    ['secret://db?version=1&version=2', 'gives version= twice'],
    ['secret://db?default=a&default=b', 'gives default= twice'],
    ['secret://db?version=', 'has an empty version='],
    ['secret://db?version', 'has an empty version='],
    ['secret://db?version=1%202', 'has a version= that is not a version number, id or label'],
    ['secret://db?version=%ZZ', 'has a version= that is not percent-encoded correctly'],
    ['secret://db?default=%E0%A4%A', 'has a default= that is not percent-encoded correctly'],
  ])('refuses %s, saying what is wrong', (text, message) => {
    const err = refusal(text);
    expect(err.code).toBe('CONFIG_INVALID');
    expect(err.path).toBe('uri');
    expect(err.message).toContain(message);
  });

  it('names the field the URI was written in', () => {
    const err = refusal('secret://db/', 'lookups.customers.uri');
    expect(err.path).toBe('lookups.customers.uri');
    expect(err.message).toMatch(/^lookups\.customers\.uri: names an empty key/);
  });

  it('never quotes a default, nor a parameter that does not look like a name, when it refuses a URI', () => {
    const credential = 'hunter2-Sup3rS3cret';
    for (const text of [
      `secret://db/k?default=${credential}&stage=x`,
      `secret://db/k?default=${credential}&default=${credential}`,
      `secret://db/k?default=${credential}%ZZ`,
      `secret://db/k?${credential}!=1`,
      `secret://db/k?default=${credential}&version=`,
      `secret://db k?default=${credential}`,
      `secret://db/k/?default=${credential}`,
    ]) {
      const err = refusal(text);
      expect(err.message).not.toContain(credential);
      expect(err.message).not.toContain('hunter2');
    }
    expect(refusal(`secret://db/k?${credential}!=1`).message).toContain('has an unknown query parameter;');
  });

  it('describes a URI without its default, for messages and logs', () => {
    expect(describeSecretUri(parseSecretUri('secret://db/password?version=3&default=hunter2'))).toBe(
      'secret://db/password?version=3',
    );
    expect(describeSecretUri(parseSecretUri('secret://db?default=hunter2'))).toBe('secret://db');
  });

  it('reads every reference a target connection may hold as SECRET_REF does, which keeps refusing a query there', () => {
    for (const text of ['secret://pg_admin', 'secret://pg_admin/password', 'secret://a.b-c_9/x.y-z']) {
      const m = SECRET_REF.exec(text)!;
      expect(m).not.toBeNull();
      expect(parseSecretUri(text)).toEqual({ secret: m[1], ...(m[2] ? { key: m[2] } : {}) });
    }
    for (const text of ['secret://pg_admin?version=2', 'secret://pg_admin?default=x']) {
      expect(SECRET_REF.test(text)).toBe(false);
      expect(() => parseSecretUri(text)).not.toThrow();
    }
  });
});
