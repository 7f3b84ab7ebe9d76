// A transit key over the OpenBao HTTP API: read, rotate, rewrap, decrypt (plaintexts dropped), min_decryption_version.
import type vault from 'node-vault';
import { RotatorError } from '../../../src/kernel/errors';
import type { KeyState, KeyTarget } from '../../key-rotation';
import type { PreflightCheck } from '../../plugin';
import { vaultClient, vaultSession, type VaultSession } from '../../stores/vault/public';
import type { TransitConfig } from './index';

/** `vault:v3:…`: the version a ciphertext was made with. */
const CIPHERTEXT = /^vault:v(\d+):[A-Za-z0-9+/=]+$/;
/** OpenBao takes batches; a few hundred ciphertexts per request keep each request small. */
const BATCH = 250;

interface HttpError {
  response?: { statusCode?: number; body?: { errors?: unknown } };
  message?: string;
}

/** OpenBao's first error, on one line, without any request body. */
function openbaoText(err: unknown): string {
  const e = err as HttpError;
  const errors = e?.response?.body?.errors;
  const first = Array.isArray(errors) && typeof errors[0] === 'string' ? errors[0] : (e?.message ?? String(err));
  return first
    .replace(/\s*\n\s*\*?\s*/g, ' ')
    .trim()
    .slice(0, 200);
}

function failure(err: unknown, what: string, field: string): RotatorError {
  if (err instanceof RotatorError) return err;
  const status = (err as HttpError)?.response?.statusCode;
  const text = `${what}: ${openbaoText(err)}`;
  if (status === 403) return new RotatorError('PERMISSION_DENIED', text, field);
  if (status === 404) return new RotatorError('NOT_FOUND', text, field);
  if (status === 400) return new RotatorError('CONFIG_INVALID', text, field);
  return new RotatorError('TRANSIENT', text, field);
}

interface KeyBody {
  data?: { latest_version?: number; min_decryption_version?: number; type?: string } | null;
}
interface BatchBody {
  data?: { batch_results?: Array<{ ciphertext?: string; plaintext?: string; error?: string }> } | null;
}

export class TransitKey implements KeyTarget {
  readonly describe: string;

  constructor(
    private readonly client: vault.client,
    private readonly config: TransitConfig,
    private readonly session: VaultSession,
  ) {
    this.describe = `${config.mount}/keys/${config.name}`;
  }

  private async call<T>(what: string, run: () => Promise<T>): Promise<T> {
    try {
      return await run();
    } catch (err) {
      throw failure(err, `${what} ${this.describe}`, 'key');
    }
  }

  async state(): Promise<KeyState> {
    const body = (await this.call('reading', () => this.client.read(this.describe))) as KeyBody;
    const latest = body.data?.latest_version;
    const min = body.data?.min_decryption_version;
    if (typeof latest !== 'number' || typeof min !== 'number')
      throw new RotatorError('UNSUPPORTED', `${this.describe} answered without latest_version and min_decryption_version`, 'key');
    return { latest, minDecryption: min };
  }

  async rotate(): Promise<void> {
    await this.call('rotating', () => this.client.write(`${this.describe}/rotate`, {}));
  }

  versionOf(value: string): number | null {
    const m = CIPHERTEXT.exec(value);
    return m ? Number(m[1]) : null;
  }

  async rewrap(ciphertexts: string[], version: number): Promise<string[]> {
    const out: string[] = [];
    for (let i = 0; i < ciphertexts.length; i += BATCH) {
      const batch = ciphertexts.slice(i, i + BATCH);
      const body = (await this.call('rewrapping with', () =>
        this.client.write(`${this.config.mount}/rewrap/${this.config.name}`, {
          batch_input: batch.map((ciphertext) => ({ ciphertext })),
          key_version: version,
        }),
      )) as BatchBody;
      const results = body.data?.batch_results ?? [];
      batch.forEach((_, j) => {
        const r = results[j];
        if (!r?.ciphertext || r.error)
          throw new RotatorError(
            'VERIFY_FAILED',
            `ciphertext ${i + j + 1} of ${ciphertexts.length} did not rewrap with ${this.describe}: ${r?.error ?? 'no answer'}`,
            'rewrap',
          );
        out.push(r.ciphertext);
      });
    }
    return out;
  }

  async decryptable(ciphertexts: string[]): Promise<void> {
    for (let i = 0; i < ciphertexts.length; i += BATCH) {
      const batch = ciphertexts.slice(i, i + BATCH);
      let results: NonNullable<NonNullable<BatchBody['data']>['batch_results']>;
      try {
        const body = (await this.client.write(`${this.config.mount}/decrypt/${this.config.name}`, {
          batch_input: batch.map((ciphertext) => ({ ciphertext })),
        })) as BatchBody;
        results = body.data?.batch_results ?? [];
      } catch (err) {
        // A batch in which every item fails is a 400: the first item's error is the answer.
        if ((err as HttpError)?.response?.statusCode !== 400) throw failure(err, `decrypting with ${this.describe}`, 'verify');
        throw Object.assign(new Error(openbaoText(err)), { index: i });
      }
      batch.forEach((_, j) => {
        const r = results[j];
        if (!r || r.error || typeof r.plaintext !== 'string')
          throw Object.assign(new Error(r?.error ?? 'no answer'), { index: i + j });
      });
      // The plaintexts are dropped here: a decrypt that succeeds is all the verify needs.
    }
  }

  async setMinDecryption(version: number): Promise<void> {
    await this.call('setting min_decryption_version of', () =>
      this.client.write(`${this.describe}/config`, { min_decryption_version: version }),
    );
  }

  close(): Promise<void> {
    this.session.release();
    return Promise.resolve();
  }
}

/** The vault provider block the key is reached through (the config checked its type). */
function providerOf(config: TransitConfig, providers: Readonly<Record<string, unknown>>) {
  const p = providers[config.provider] as Parameters<typeof vaultSession>[0] | undefined;
  if (!p)
    throw new RotatorError(
      'CONFIG_INVALID',
      `this worker has no provider named ${JSON.stringify(config.provider)}`,
      'key.provider',
    );
  return p;
}

export async function openTransitKey(config: TransitConfig, providers: Readonly<Record<string, unknown>>): Promise<TransitKey> {
  const p = providerOf(config, providers);
  const session = vaultSession(p);
  try {
    await session.ready();
  } catch (err) {
    session.release();
    throw err;
  }
  const client = vaultClient({ address: p.address, token: session, ...(p.namespace ? { namespace: p.namespace } : {}) });
  return new TransitKey(client, config, session);
}

/** `rotator plan`: the key can be read (versions); rotating and configuring it are only checked by doing them. */
export async function preflight(config: TransitConfig, providers: Readonly<Record<string, unknown>>): Promise<PreflightCheck[]> {
  const where = `${config.mount}/keys/${config.name}`;
  try {
    const key = await openTransitKey(config, providers);
    try {
      const s = await key.state();
      return [
        {
          check: 'transit key',
          status: 'ok',
          detail: `${where}: version ${s.latest}, min_decryption_version ${s.minDecryption}`,
        },
      ];
    } finally {
      await key.close();
    }
  } catch (err) {
    const e = err as RotatorError;
    return [
      {
        check: 'transit key',
        status: 'fail',
        detail: e.message,
        fix:
          e.code === 'PERMISSION_DENIED'
            ? `grant the provider's token read and update on ${where}, ${where}/rotate, ${where}/config and update on ${config.mount}/rewrap/${config.name}, ${config.mount}/decrypt/${config.name}`
            : `create the key: bao write -f ${where}`,
      },
    ];
  }
}
