// Keeps rotator's own Vault/OpenBao token alive (the L5 `renewal:` block): renew-self at 2/3 of its TTL, again and
// again; a token from a login (approle, kubernetes) is replaced by a new login once it cannot be renewed further.
import type vault from 'node-vault';
import { vaultClient } from './client';
import { VaultSession } from './auth';
import { RotatorError } from '../../../src/kernel/errors';
import { logger } from '../../../src/kernel/log';

export interface TokenRenewalOptions {
  address: string;
  /** A token given to rotator, or the provider's login session (shared with its store and lease engine). */
  token: string | VaultSession;
  namespace?: string;
  /** The extension asked for at each renewal, in seconds (Vault may grant less). */
  incrementSec: number;
  /**
   * false: never renew, only log in again at 2/3 of each login's TTL (a login method with `renewal:` off). A token
   * given to rotator is then left alone.
   */
  renew?: boolean;
  /** Told each granted TTL (tests wait on it). */
  onRenewed?: (ttlSec: number) => void;
  /** Told each new login's TTL, made because the token could not be renewed (further). */
  onLogin?: (ttlSec: number) => void;
  /** Told each failure, as a sentence without the token or any credential. */
  onError?: (message: string) => void;
}

/** Renewal is retried this soon after a failure, unless the token has less time left than that. */
const RETRY_MS = 30_000;
/** Never sooner than this: a token with a TTL of a second or two is still not renewed in a busy loop. */
const MIN_DELAY_MS = 250;
/** setTimeout's limit (about 24.8 days): a longer delay would fire at once. */
const MAX_DELAY_MS = 2 ** 31 - 1;

type Step = 'renew' | 'login';

interface SelfBody {
  data?: { renewable?: boolean; ttl?: number; period?: number | null };
}
interface RenewBody {
  auth?: { lease_duration?: number };
  warnings?: string[] | null;
}

export class TokenRenewer {
  private readonly client: vault.client;
  private readonly session: VaultSession;
  private timer: NodeJS.Timeout | null = null;
  private stopped = false;
  /** Periodic tokens are renewed to their period whatever the increment: a smaller grant is no cap then. */
  private periodic = false;
  /** When the token in hand expires unless renewed (ms since the epoch); null when unknown. */
  private expiresAt: number | null = null;
  /** What this renewer has done so far: renewals granted and new logins made (status and tests read it). */
  readonly counts = { renewals: 0, logins: 0 };

  constructor(private readonly options: TokenRenewalOptions) {
    const { address, namespace, token } = options;
    this.session = typeof token === 'string' ? new VaultSession({ address, token, ...(namespace ? { namespace } : {}) }) : token;
    this.client = vaultClient({ address, token: this.session, ...(namespace ? { namespace } : {}) });
  }

  private get renewing(): boolean {
    return this.options.renew ?? true;
  }

  /**
   * Looks the token up and schedules the first renewal (or, for a login that cannot be renewed, the next login).
   * A given token that cannot be renewed is left alone, with a log line. A login that fails is tried again.
   */
  async start(): Promise<{ renewable: boolean; ttlSec: number }> {
    if (this.session.canLogin) {
      try {
        await this.session.ready();
        return await this.lookUp();
      } catch (err) {
        this.failed(`logging in to vault (${this.session.describe}) failed`, err);
        this.schedule(this.retryDelay(), 'login');
        return { renewable: false, ttlSec: 0 };
      }
    }
    return this.lookUp();
  }

  /** Stops renewing and lets go of the session (a shared login ends with its last holder). */
  stop(): void {
    if (!this.stopped) this.session.release();
    this.stopped = true;
    if (this.timer) clearTimeout(this.timer);
  }

  private async lookUp(): Promise<{ renewable: boolean; ttlSec: number }> {
    const self = (await this.client.tokenLookupSelf()) as SelfBody;
    const renewable = !!self.data?.renewable;
    const ttlSec = self.data?.ttl ?? 0;
    this.periodic = (self.data?.period ?? 0) > 0;
    this.expiresAt = ttlSec > 0 ? Date.now() + ttlSec * 1000 : null;
    if (ttlSec <= 0) {
      logger.info({ renewable, ttlSec }, 'vault token needs no renewal (no TTL)');
      return { renewable: false, ttlSec };
    }
    if (renewable && this.renewing) {
      this.schedule((ttlSec * 1000 * 2) / 3, 'renew');
      return { renewable, ttlSec };
    }
    if (this.session.canLogin) {
      this.schedule((ttlSec * 1000 * 2) / 3, 'login');
      return { renewable, ttlSec };
    }
    logger.info({ renewable, ttlSec }, 'vault token needs no renewal (not renewable, or renewal is off)');
    return { renewable: false, ttlSec };
  }

  private schedule(ms: number, step: Step): void {
    if (this.stopped) return;
    const delay = Math.min(MAX_DELAY_MS, Math.max(MIN_DELAY_MS, ms));
    this.timer = setTimeout(() => void (step === 'renew' ? this.renew() : this.login()), delay);
    this.timer.unref(); // never what keeps a stopping worker alive
  }

  /** After a failure: soon, and sooner when the token has less than that left. */
  private retryDelay(): number {
    if (this.expiresAt === null) return RETRY_MS;
    return Math.min(RETRY_MS, Math.max(1000, (this.expiresAt - Date.now()) / 2));
  }

  private async renew(): Promise<void> {
    const before = this.session.token();
    try {
      // A refused renewal of a login's token (expired, revoked) logs in again inside the client and renews that.
      const out = (await this.client.tokenRenewSelf({ increment: `${this.options.incrementSec}s` })) as RenewBody;
      const ttlSec = out.auth?.lease_duration ?? 0;
      this.expiresAt = Date.now() + ttlSec * 1000;
      if (this.session.token() !== before) {
        this.counts.logins += 1;
        this.options.onLogin?.(ttlSec);
      } else {
        this.counts.renewals += 1;
        this.options.onRenewed?.(ttlSec);
      }
      // Near its max TTL Vault grants less than asked, and says so: only a new login lasts longer.
      const capped =
        (out.warnings ?? []).some((w) => /max_ttl|capped/i.test(w)) || (!this.periodic && ttlSec < this.options.incrementSec);
      if (this.session.canLogin && (capped || ttlSec <= 0)) {
        logger.info({ ttlSec, login: this.session.describe }, 'vault token is near its max TTL: logging in again before it ends');
        this.schedule((ttlSec * 1000 * 2) / 3, 'login');
      } else {
        this.schedule((ttlSec * 1000 * 2) / 3, 'renew');
      }
    } catch (err) {
      const status = (err as { response?: { statusCode?: number } }).response?.statusCode;
      this.failed(`renewing the vault token failed${status ? ` (HTTP ${status})` : ''}`, err, status);
      this.schedule(this.retryDelay(), this.session.canLogin ? 'login' : 'renew');
    }
  }

  private async login(): Promise<void> {
    try {
      const { ttlSec, renewable } = await this.session.login();
      this.expiresAt = ttlSec > 0 ? Date.now() + ttlSec * 1000 : null;
      this.counts.logins += 1;
      this.options.onLogin?.(ttlSec);
      logger.info({ ttlSec, renewable, login: this.session.describe }, 'logged in to vault again');
      if (ttlSec > 0) this.schedule((ttlSec * 1000 * 2) / 3, renewable && this.renewing ? 'renew' : 'login');
    } catch (err) {
      this.failed(`logging in to vault again (${this.session.describe}) failed`, err);
      this.schedule(this.retryDelay(), 'login');
    }
  }

  /** One log line and one onError call; a login's RotatorError says why, and holds no credential. */
  private failed(message: string, err: unknown, status?: number): void {
    const why = err instanceof RotatorError ? `${message}: ${err.message}` : message;
    logger.warn({ status }, why);
    this.options.onError?.(why);
  }
}
