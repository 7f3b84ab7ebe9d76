// The `pki` target: certificates and keys issued from an OpenBao PKI role, published as tls.crt / tls.key / ca.crt,
// proved by a TLS handshake against the consumers' endpoint, revoked (onto the CRL) when they are done with.
import { RotatorError } from '../../../src/kernel/errors';
import { chainCAs, joinPem, leafOf, pemBlocks, serialOf, unionOfCAs, validityOf } from './certificates';
import type { PkiClient } from './client';
import { handshake, type Handshake } from './handshake';
import type { IssuedCredential, IssuingTarget, JsonValue, SecretValue, VerifiedAt } from '../../types';

/** The stored fields, as a Kubernetes `kubernetes.io/tls` Secret names them. */
export const TLS_CRT = 'tls.crt';
export const TLS_KEY = 'tls.key';
export const CA_CRT = 'ca.crt';

export interface PkiSettings {
  mount: string;
  role: string;
  commonName: string;
  altNames: string[];
  ipSans: string[];
  ttl?: string;
  /** The key type the role must issue (`rsa`, `ec`, `ed25519`): a role that issues another is refused. */
  keyType?: string;
  verify: { host: string; port: number; servername?: string; withinMs: number };
}

/** How long before `startedAt` a certificate of this rotation may say it starts: OpenBao backdates not_before. */
const CLOCK_SLACK_MS = 60_000;
const POLL_MS = 250;

/** The point in a certificate's life from which it is due, as a fraction of it (cert-manager renews at 2/3). */
export const DEFAULT_RENEW_AT = 2 / 3;

/** When the certificate a stored value holds expires, and when it is due for renewal; null when it holds none. */
export function renewalOf(value: SecretValue, renewAt: number): { notAfter: number; renewAt: number } | null {
  const crt = value[TLS_CRT];
  const validity = typeof crt === 'string' ? validityOf(crt) : null;
  if (!validity) return null;
  const { notBefore, notAfter } = validity;
  return { notAfter, renewAt: notBefore + Math.round((notAfter - notBefore) * renewAt) };
}

/** The key type of a certificate's public key, in OpenBao's words (`rsa`, `ec`, `ed25519`). */
function keyTypeOf(crt: string): string | null {
  const type = leafOf(crt)?.publicKey.asymmetricKeyType;
  return type === 'ed25519' ? 'ed25519' : type === 'rsa' ? 'rsa' : type === 'ec' ? 'ec' : (type ?? null);
}

function isSelfSigned(pem: string): boolean {
  const cert = leafOf(pem);
  return !!cert && cert.checkIssued(cert) && cert.verify(cert.publicKey);
}

export class PkiTarget implements IssuingTarget {
  readonly issues = true as const;
  readonly endpoint: Readonly<Record<string, JsonValue>> = {};

  constructor(
    private readonly client: PkiClient,
    private readonly settings: PkiSettings,
    private readonly now: () => number = Date.now,
  ) {}

  credentialOf(value: SecretValue): IssuedCredential | null {
    const crt = value[TLS_CRT];
    const key = value[TLS_KEY];
    if (typeof crt !== 'string' || typeof key !== 'string') return null;
    const serial = serialOf(crt);
    if (!serial) return null;
    const ca = value[CA_CRT];
    return { id: serial, secret: key, fields: { [TLS_CRT]: crt, [CA_CRT]: typeof ca === 'string' ? ca : '' } };
  }

  /**
   * The new certificate and key; ca.crt is the union of the new CA chain and the CAs the stored value trusted
   * (unexpired ones), so clients that trust only the old CA keep working through the overlap. afterWithdraw narrows it.
   */
  credentialFields(credential: IssuedCredential, previous: IssuedCredential | null): Record<string, JsonValue | undefined> {
    const ca = (c: IssuedCredential | null) => (typeof c?.fields?.[CA_CRT] === 'string' ? (c.fields[CA_CRT] as string) : '');
    return {
      [TLS_CRT]: credential.fields?.[TLS_CRT],
      [TLS_KEY]: credential.secret,
      [CA_CRT]: unionOfCAs([ca(credential), ca(previous)], this.now()),
    };
  }

  async issue(request: { startedAt: number; current: IssuedCredential | null }): Promise<IssuedCredential> {
    const s = this.settings;
    // OpenBao cannot hand a key out twice: what an earlier run of this rotation issued is revoked, never left live.
    await this.withdrawLeftovers(request.startedAt, request.current?.id ?? null);
    const issued = await this.client.issue(s.role, {
      common_name: s.commonName,
      ...(s.altNames.length ? { alt_names: s.altNames.join(',') } : {}),
      ...(s.ipSans.length ? { ip_sans: s.ipSans.join(',') } : {}),
      ...(s.ttl ? { ttl: s.ttl } : {}),
    });
    const keyType = keyTypeOf(issued.certificate);
    if (s.keyType && keyType !== s.keyType) {
      await this.client.revoke(issued.serial);
      throw new RotatorError(
        'CONFIG_INVALID',
        `role ${s.role} issued a ${keyType ?? 'unknown'} key, not ${s.keyType}: set the role's key_type or change algorithm here`,
        'target.algorithm',
      );
    }
    const chain = issued.caChain.length ? issued.caChain.flatMap(pemBlocks) : pemBlocks(issued.issuingCa);
    return {
      id: issued.serial,
      secret: issued.privateKey,
      fields: {
        // The leaf and the intermediates a client needs to reach a root it trusts; the CAs themselves in ca.crt.
        [TLS_CRT]: joinPem([...pemBlocks(issued.certificate), ...chain.filter((pem) => !isSelfSigned(pem))]),
        [CA_CRT]: joinPem(chain),
      },
    };
  }

  /** Certificates of this common name that started with this rotation, other than the current one, not yet revoked. */
  private async withdrawLeftovers(startedAt: number, current: string | null): Promise<void> {
    const since = startedAt - CLOCK_SLACK_MS;
    const kept = await this.client.certificates();
    for (const c of kept) {
      if (c.commonName !== this.settings.commonName || c.serial === current || c.notBefore < since) continue;
      if ((await this.client.revokedAt(c.serial)) === null) await this.client.revoke(c.serial);
    }
  }

  /**
   * Polls a TLS handshake with the consumers' endpoint until it serves this credential's serial with a chain that
   * validates against the stored ca.crt (the server may take a moment to reload), for at most verify.within.
   */
  async verify(credential: IssuedCredential, stored: SecretValue): Promise<VerifiedAt> {
    const { host, port, servername, withinMs } = this.settings.verify;
    const where = `${host}:${port}`;
    const ca = typeof stored[CA_CRT] === 'string' ? stored[CA_CRT] : '';
    const deadline = this.now() + withinMs;
    let last: Handshake | null = null;
    let lastError: unknown = null;
    for (;;) {
      try {
        last = await handshake({
          host,
          port,
          ca,
          timeoutMs: Math.max(1000, Math.min(5000, withinMs)),
          ...(servername ? { servername } : {}),
        });
        lastError = null;
        if (last.serial === credential.id && last.authorized) return { endpoint: where, from: 'target connection' };
      } catch (err) {
        lastError = err;
      }
      if (this.now() >= deadline) break;
      await new Promise((r) => setTimeout(r, POLL_MS));
    }
    if (!last || lastError)
      throw new RotatorError(
        'TRANSIENT',
        `verify: no TLS handshake with ${where}: ${(lastError as Error)?.message ?? 'no answer'}`,
        'target.verify',
      );
    if (last.serial !== credential.id)
      throw new RotatorError(
        'VERIFY_FAILED',
        `verify: ${where} serves certificate ${last.serial}, not the new ${credential.id} (after ${withinMs} ms)`,
        'target.verify',
      );
    throw new RotatorError(
      'VERIFY_FAILED',
      `verify: ${where} serves ${credential.id} but its chain does not validate against ca.crt: ${last.authorizationError}`,
      'target.verify',
    );
  }

  /** Revokes the certificate: it goes onto the mount's CRL. Already revoked or expired counts as done. */
  async withdraw(credential: IssuedCredential): Promise<void> {
    await this.client.revoke(credential.id);
  }

  /** Once the old certificate is revoked, ca.crt keeps only the CAs on the current certificate's issuing path. */
  afterWithdraw(current: SecretValue): Record<string, JsonValue | undefined> | null {
    const crt = current[TLS_CRT];
    const ca = current[CA_CRT];
    if (typeof crt !== 'string' || typeof ca !== 'string') return null;
    const kept = chainCAs(crt, ca);
    if (!kept || pemBlocks(kept).length === pemBlocks(ca).length) return null;
    return { [CA_CRT]: kept };
  }

  async close(): Promise<void> {}
}
