// OpenBao's (Vault's) PKI secrets engine over its HTTP API, with node-vault: issue from a role, revoke, read back.
import type vault from 'node-vault';
import { vaultClient, type VaultConnection } from '../../stores/vault/public';
import { RotatorError, type ErrorCode } from '../../../src/kernel/errors';
import { redact } from '../../../src/kernel/redact';

/** What `<mount>/issue/<role>` asks for: the subject and the key, all from the target block. */
export interface IssueRequest {
  common_name: string;
  alt_names?: string;
  ip_sans?: string;
  uri_sans?: string;
  ttl?: string;
  private_key_format?: 'pkcs8';
}

/** What `<mount>/issue/<role>` answers. `private_key` is the secret; the rest is public. */
export interface Issued {
  serial: string;
  certificate: string;
  issuingCa: string;
  caChain: string[];
  privateKey: string;
  expiration: number;
}

/** A certificate OpenBao keeps (`LIST <mount>/certs/detailed`). */
export interface KeptCertificate {
  serial: string;
  commonName: string;
  notBefore: number;
}

function statusOf(err: unknown): number | undefined {
  return (err as { response?: { statusCode?: number } })?.response?.statusCode;
}

function errorsOf(err: unknown): string {
  const body = (err as { response?: { body?: { errors?: unknown } } })?.response?.body;
  const errors = Array.isArray(body?.errors) ? body.errors.map(String) : [];
  return errors.length ? errors.join('; ') : ((err as Error)?.message ?? String(err));
}

export class PkiClient {
  private readonly client: vault.client;

  constructor(
    private readonly connection: VaultConnection & { token: string },
    private readonly mount: string,
  ) {
    this.client = vaultClient(connection);
  }

  /** A failure named by system, mount and step; the token never appears. */
  private failure(err: unknown, step: string, field = 'target'): RotatorError {
    const status = statusOf(err);
    const text = redact(errorsOf(err), [this.connection.token]);
    let code: ErrorCode = 'TRANSIENT';
    if (status === 403) code = 'PERMISSION_DENIED';
    else if (status === 404) code = 'NOT_FOUND';
    else if (status !== undefined && status >= 400 && status < 500) code = 'CONFIG_INVALID';
    const where = `openbao pki at ${this.connection.address}/${this.mount}`;
    return new RotatorError(code, `${step}: ${where} answered ${status ?? 'nothing'}: ${text}`, field);
  }

  /** Issues a certificate and key from `role`. */
  async issue(role: string, request: IssueRequest): Promise<Issued> {
    let data: Record<string, unknown>;
    try {
      data = (await this.client.write(`${this.mount}/issue/${role}`, request)).data as Record<string, unknown>;
    } catch (err) {
      throw this.failure(err, `issue a certificate from role ${role}`, 'target.role');
    }
    return {
      serial: String(data.serial_number),
      certificate: String(data.certificate),
      issuingCa: String(data.issuing_ca ?? ''),
      caChain: Array.isArray(data.ca_chain) ? data.ca_chain.map(String) : [],
      privateKey: String(data.private_key),
      expiration: Number(data.expiration) * 1000,
    };
  }

  /** Revokes `serial` (it goes on the CRL). Already revoked, expired or unknown counts as done. */
  async revoke(serial: string): Promise<void> {
    try {
      await this.client.write(`${this.mount}/revoke`, { serial_number: serial });
    } catch (err) {
      if (statusOf(err) === 400 && /not found|expired/i.test(errorsOf(err))) return;
      throw this.failure(err, `revoke certificate ${serial}`);
    }
  }

  /** When `serial` was revoked (epoch ms), or null while it is not; NOT_FOUND when OpenBao does not know it. */
  async revokedAt(serial: string): Promise<number | null> {
    try {
      const data = (await this.client.read(`${this.mount}/cert/${serial}`)).data as { revocation_time?: number };
      return data.revocation_time ? data.revocation_time * 1000 : null;
    } catch (err) {
      throw this.failure(err, `read certificate ${serial}`);
    }
  }

  /** Every certificate the mount keeps, with its subject and start (no_store roles keep none). */
  async certificates(): Promise<KeptCertificate[]> {
    let info: Record<string, { common_name?: string; not_before?: string }>;
    try {
      info = ((await this.client.list(`${this.mount}/certs/detailed`)).data?.key_info ?? {}) as typeof info;
    } catch (err) {
      if (statusOf(err) === 404) return [];
      throw this.failure(err, 'list the certificates');
    }
    return Object.entries(info).map(([serial, i]) => ({
      serial,
      commonName: i.common_name ?? '',
      notBefore: i.not_before ? Date.parse(i.not_before) : 0,
    }));
  }

  /** The role's settings (`plan`, and the not-before backdating the leftover search allows for). */
  async role(role: string): Promise<Record<string, unknown>> {
    try {
      return (await this.client.read(`${this.mount}/roles/${role}`)).data as Record<string, unknown>;
    } catch (err) {
      throw this.failure(err, `read role ${role}`, 'target.role');
    }
  }
}
