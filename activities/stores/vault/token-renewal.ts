// Keeps rotator's own Vault/OpenBao token alive (the L5 `renewal:` block): renew-self at 2/3 of its TTL, again and again.
import type vault from 'node-vault';
import { vaultClient } from './client';
import { logger } from '../../../src/kernel/log';

export interface TokenRenewalOptions {
  address: string;
  token: string;
  namespace?: string;
  /** The extension asked for at each renewal, in seconds (Vault may grant less). */
  incrementSec: number;
  /** Told each granted TTL (tests wait on it). */
  onRenewed?: (ttlSec: number) => void;
  /** Told each failure, as a sentence without the token. */
  onError?: (message: string) => void;
}

/** Renewal is retried this soon after a failure, unless the token has less time left than that. */
const RETRY_MS = 30_000;

export class TokenRenewer {
  private readonly client: vault.client;
  private timer: NodeJS.Timeout | null = null;
  private stopped = false;

  constructor(private readonly options: TokenRenewalOptions) {
    this.client = vaultClient(options);
  }

  /** Looks the token up and schedules the first renewal; a token that cannot be renewed is left alone, with a log line. */
  async start(): Promise<{ renewable: boolean; ttlSec: number }> {
    const self = (await this.client.tokenLookupSelf()) as { data?: { renewable?: boolean; ttl?: number } };
    const renewable = !!self.data?.renewable;
    const ttlSec = self.data?.ttl ?? 0;
    if (!renewable || ttlSec <= 0) {
      logger.info({ renewable, ttlSec }, 'vault token needs no renewal (not renewable, or no TTL)');
      return { renewable: false, ttlSec };
    }
    this.schedule((ttlSec * 1000 * 2) / 3);
    return { renewable, ttlSec };
  }

  stop(): void {
    this.stopped = true;
    if (this.timer) clearTimeout(this.timer);
  }

  private schedule(ms: number): void {
    if (this.stopped) return;
    this.timer = setTimeout(() => void this.renew(), Math.max(250, ms));
    this.timer.unref(); // never what keeps a stopping worker alive
  }

  private async renew(): Promise<void> {
    try {
      const out = (await this.client.tokenRenewSelf({ increment: `${this.options.incrementSec}s` })) as {
        auth?: { lease_duration?: number };
      };
      const ttlSec = out.auth?.lease_duration ?? 0;
      this.options.onRenewed?.(ttlSec);
      this.schedule((ttlSec * 1000 * 2) / 3);
    } catch (err) {
      const status = (err as { response?: { statusCode?: number } }).response?.statusCode;
      const message = `renewing the vault token failed${status ? ` (HTTP ${status})` : ''}`;
      logger.warn({ status }, message);
      this.options.onError?.(message);
      this.schedule(RETRY_MS);
    }
  }
}
