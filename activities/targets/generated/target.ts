// The `generated` target: an issuing target with no system behind it. It makes the value itself; the store is the
// only place the value lives, so withdrawing the old one is dropping it from the stored value (afterWithdraw).
import type { IssuedCredential, IssuingTarget, SecretValue, VerifiedAt } from '../../types';
import { checkPublished } from './check';
import { generateJwk, generatePemPair, generateRandom, type Generated } from './generate';
import { layoutOf, type Layout } from './layout';
import { settings, type GeneratedConfig } from './schema';

export class GeneratedTarget implements IssuingTarget {
  readonly issues = true;
  /** A generated value names no server: its first stored value gets the credential fields only. */
  readonly endpoint = {};
  private readonly layout: Layout;
  private readonly settings: ReturnType<typeof settings>;

  constructor(private readonly config: GeneratedConfig) {
    this.layout = layoutOf(config);
    this.settings = settings(config);
  }

  credentialFields(credential: IssuedCredential, previous: IssuedCredential | null) {
    return this.layout.fields(credential, previous);
  }

  credentialOf(value: SecretValue): IssuedCredential | null {
    return this.layout.credentialOf(value);
  }

  /**
   * A fresh value from the CSPRNG each time. A re-run after a worker death between issue and stage makes another one:
   * the first was never stored, and a generated value is live nowhere but in the store, so nothing is left behind.
   */
  async issue(): Promise<IssuedCredential> {
    const s = this.settings;
    let made: Generated;
    switch (s.generate) {
      case 'random':
        made = generateRandom(s.bytes, s.encoding);
        break;
      case 'key-pair':
        made = await generatePemPair(s.algorithm);
        break;
      case 'jwk':
        made = await generateJwk(s.algorithm, s.bits);
        break;
    }
    return { id: made.id, secret: made.secret, fields: made.fields };
  }

  /**
   * The published value holds a working key (what every consumer reads), and, with `verify: consumers`, the reconnect
   * phase before this step has had each consumer's acknowledgement.
   */
  async verify(credential: IssuedCredential, stored: SecretValue): Promise<VerifiedAt> {
    const checked = await checkPublished(this.settings, credential, stored);
    const by = this.config.verify === 'none' ? '' : '; consumers acknowledged it at reconnect';
    return { endpoint: `stored value: ${checked}${by}`, from: 'stored value' };
  }

  /** Nothing outside the store holds a generated value: the stored value drops it (afterWithdraw). */
  async withdraw(): Promise<void> {}

  afterWithdraw(current: SecretValue) {
    return this.layout.afterWithdraw(current);
  }

  async close(): Promise<void> {}
}
