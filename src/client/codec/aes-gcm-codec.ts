// AES-256-GCM PayloadCodec plus key loading, so nothing a rotation handles reaches Temporal history in plaintext.
import { createCipheriv, createDecipheriv, randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { inspect } from 'node:util';
import type { Payload, PayloadCodec } from '@temporalio/common';
import { temporal } from '@temporalio/proto';
import { RotatorError } from '../../kernel/errors';

export const ENCODING_ENCRYPTED = 'binary/encrypted';
export const METADATA_KEY_ID = 'encryption-key-id';

const ALGORITHM = 'aes-256-gcm';
const KEY_BYTES = 32;
const IV_BYTES = 12;
const TAG_BYTES = 16;
const KEY_ID = /^[A-Za-z0-9._-]{1,64}$/;
// Strict check because Buffer.from(s, 'base64') silently skips junk, which would turn a typo into a wrong key.
const BASE64 = /^(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?$/;

export interface CodecKeys {
  activeKeyId: string;
  keys: ReadonlyMap<string, Buffer>;
  /**
   * Read payloads that are not encrypted (ROTATOR_CODEC_ALLOW_PLAINTEXT=1), only while migrating a namespace whose
   * histories predate encryption. Off, a plaintext payload is refused: whoever wrote it did not hold the key.
   */
  allowPlaintext?: boolean;
}

/** A Map that prints only its key ids, so logging a config or options object cannot leak key bytes. */
class KeyRing extends Map<string, Buffer> {
  [inspect.custom](): string {
    return `KeyRing { ${[...this.keys()].join(', ')} }`;
  }
  toJSON(): string[] {
    return [...this.keys()];
  }
}

const utf8 = (s: string): Uint8Array => Buffer.from(s, 'utf8');
const text = (b: Uint8Array | null | undefined): string | undefined => (b ? Buffer.from(b).toString('utf8') : undefined);

export class AesGcmCodec implements PayloadCodec {
  // Private fields stay out of util.inspect and JSON.stringify, which the SDK and loggers may apply to options.
  readonly #activeKeyId: string;
  readonly #keys: ReadonlyMap<string, Buffer>;
  readonly #allowPlaintext: boolean;

  constructor(keys: CodecKeys) {
    for (const [id, key] of keys.keys) {
      if (key.length !== KEY_BYTES) {
        throw new RotatorError('CONFIG_INVALID', `key "${id}" must be ${KEY_BYTES} bytes (got ${key.length})`, 'codec');
      }
    }
    if (!keys.keys.has(keys.activeKeyId)) {
      throw new RotatorError('CONFIG_INVALID', `active key id "${keys.activeKeyId}" is not among the loaded keys`, 'codec');
    }
    this.#activeKeyId = keys.activeKeyId;
    this.#keys = new KeyRing(keys.keys);
    this.#allowPlaintext = keys.allowPlaintext ?? false;
  }

  get activeKeyId(): string {
    return this.#activeKeyId;
  }

  async encode(payloads: Payload[]): Promise<Payload[]> {
    const key = this.#keys.get(this.#activeKeyId) as Buffer;
    return payloads.map((payload) => {
      // The whole Payload is sealed, metadata included: the inner encoding would otherwise reveal what kind of value it is.
      const plain = temporal.api.common.v1.Payload.encode(payload).finish();
      const iv = randomBytes(IV_BYTES);
      const cipher = createCipheriv(ALGORITHM, key, iv);
      const sealed = Buffer.concat([iv, cipher.update(plain), cipher.final(), cipher.getAuthTag()]);
      return {
        metadata: { encoding: utf8(ENCODING_ENCRYPTED), [METADATA_KEY_ID]: utf8(this.#activeKeyId) },
        data: sealed,
      };
    });
  }

  async decode(payloads: Payload[]): Promise<Payload[]> {
    return payloads.map((payload) => {
      if (text(payload.metadata?.encoding) !== ENCODING_ENCRYPTED) {
        if (this.#allowPlaintext) return payload;
        throw new RotatorError(
          'CONFIG_INVALID',
          `refusing an unencrypted payload (${text(payload.metadata?.encoding) ?? 'no encoding'}): with codec keys configured every payload must be encrypted with one of them (${[...this.#keys.keys()].join(', ')}); set ROTATOR_CODEC_ALLOW_PLAINTEXT=1 only while migrating older histories`,
          'codec',
        );
      }
      const keyId = text(payload.metadata?.[METADATA_KEY_ID]);
      if (!keyId) {
        throw new RotatorError('CONFIG_INVALID', `encrypted payload has no ${METADATA_KEY_ID} metadata`, 'codec');
      }
      const key = this.#keys.get(keyId);
      if (!key) {
        throw new RotatorError(
          'CONFIG_INVALID',
          `payload was encrypted with unknown key id "${keyId}"; add it to ROTATOR_CODEC_OLD_KEYS or the key file (known: ${[...this.#keys.keys()].join(', ')})`,
          'codec',
        );
      }
      const data = Buffer.from(payload.data ?? new Uint8Array());
      if (data.length < IV_BYTES + TAG_BYTES) {
        throw new Error(`codec: encrypted payload with key id "${keyId}" is truncated (${data.length} bytes)`);
      }
      const iv = data.subarray(0, IV_BYTES);
      const tag = data.subarray(data.length - TAG_BYTES);
      const body = data.subarray(IV_BYTES, data.length - TAG_BYTES);
      let plain: Buffer;
      try {
        const decipher = createDecipheriv(ALGORITHM, key, iv);
        decipher.setAuthTag(tag);
        plain = Buffer.concat([decipher.update(body), decipher.final()]);
      } catch {
        throw new Error(
          `codec: payload encrypted with key id "${keyId}" failed authentication (tampered data or wrong key bytes)`,
        );
      }
      return temporal.api.common.v1.Payload.decode(plain);
    });
  }
}

/** Parse one `keyid:base64key`; `where` names the variable or file line for the error, never the value. */
function parseKeySpec(spec: string, where: string): [string, Buffer] {
  const colon = spec.indexOf(':');
  if (colon < 0) throw new RotatorError('CONFIG_INVALID', 'expected keyid:base64key', where);
  const id = spec.slice(0, colon).trim();
  const b64 = spec.slice(colon + 1).trim();
  // An id that fails the pattern is not echoed: a swapped "key:id" would otherwise print the key.
  if (!KEY_ID.test(id)) throw new RotatorError('CONFIG_INVALID', `key id must match ${KEY_ID.source}`, where);
  if (!BASE64.test(b64)) throw new RotatorError('CONFIG_INVALID', `key for "${id}" is not valid base64`, where);
  const key = Buffer.from(b64, 'base64');
  if (key.length !== KEY_BYTES) {
    throw new RotatorError(
      'CONFIG_INVALID',
      `key must be ${KEY_BYTES} bytes base64 (got ${key.length}) for key id "${id}"`,
      where,
    );
  }
  return [id, key];
}

function addKey(ring: KeyRing, [id, key]: [string, Buffer], where: string): void {
  if (ring.has(id)) throw new RotatorError('CONFIG_INVALID', `duplicate key id "${id}"`, where);
  ring.set(id, key);
}

function loadKeyFile(file: string): CodecKeys {
  const label = 'ROTATOR_CODEC_KEY_FILE';
  let content: string;
  try {
    if (statSync(file).isDirectory())
      throw new RotatorError('CONFIG_INVALID', `${file} is a directory, expected a key file`, label);
    content = readFileSync(file, 'utf8');
  } catch (err) {
    if (err instanceof RotatorError) throw err;
    const code = (err as NodeJS.ErrnoException).code ?? 'unknown error';
    throw new RotatorError('CONFIG_INVALID', `cannot read ${file} (${code})`, label);
  }
  const ring = new KeyRing();
  let activeKeyId: string | undefined;
  content.split(/\r?\n/).forEach((raw, i) => {
    const line = raw.trim();
    if (line === '' || line.startsWith('#')) return;
    const where = `${label} ${file} line ${i + 1}`;
    const entry = parseKeySpec(line, where);
    addKey(ring, entry, where);
    activeKeyId ??= entry[0];
  });
  if (activeKeyId === undefined) throw new RotatorError('CONFIG_INVALID', `${file} contains no keys`, label);
  return { activeKeyId, keys: ring };
}

/**
 * Keys from ROTATOR_CODEC_KEY_FILE, else ROTATOR_CODEC_KEY plus ROTATOR_CODEC_OLD_KEYS. The first key encrypts;
 * every key decrypts, which is what lets the codec key itself be rotated without stranding old history.
 */
export function loadCodecKeys(env: NodeJS.ProcessEnv = process.env): CodecKeys {
  const allowPlaintext = env.ROTATOR_CODEC_ALLOW_PLAINTEXT === '1';
  return { ...loadKeys(env), ...(allowPlaintext ? { allowPlaintext } : {}) };
}

function loadKeys(env: NodeJS.ProcessEnv): CodecKeys {
  const file = env.ROTATOR_CODEC_KEY_FILE?.trim();
  if (file) return loadKeyFile(file);

  const active = env.ROTATOR_CODEC_KEY?.trim();
  if (!active) {
    throw new RotatorError(
      'CONFIG_INVALID',
      'no payload encryption key configured: set ROTATOR_CODEC_KEY_FILE (one keyid:base64key per line, first is active) ' +
        'or ROTATOR_CODEC_KEY=keyid:base64key (with optional ROTATOR_CODEC_OLD_KEYS=id:key,id:key); ' +
        'generate a key with: openssl rand -base64 32',
    );
  }
  const ring = new KeyRing();
  const first = parseKeySpec(active, 'ROTATOR_CODEC_KEY');
  addKey(ring, first, 'ROTATOR_CODEC_KEY');
  (env.ROTATOR_CODEC_OLD_KEYS ?? '')
    .split(',')
    .map((s) => s.trim())
    .filter((s) => s !== '')
    .forEach((spec, i) => {
      const where = `ROTATOR_CODEC_OLD_KEYS entry ${i + 1}`;
      addKey(ring, parseKeySpec(spec, where), where);
    });
  return { activeKeyId: first[0], keys: ring };
}

/** For the local demo only: make sure a key file exists so `rotator` works with no setup. Returns the absolute path. */
export function ensureLocalKeyFile(file: string): string {
  const path = resolve(file);
  if (existsSync(path)) {
    loadKeyFile(path); // an existing file must be a key file: a config or any other file is refused, naming it
    return path;
  }
  mkdirSync(dirname(path), { recursive: true, mode: 0o700 });
  const now = new Date();
  const stamp = `${now.getUTCFullYear()}${String(now.getUTCMonth() + 1).padStart(2, '0')}${String(now.getUTCDate()).padStart(2, '0')}`;
  const body =
    '# rotator local demo payload encryption key; first line is active, later lines still decrypt.\n' +
    `local-${stamp}-${randomBytes(4).toString('hex')}:${randomBytes(KEY_BYTES).toString('base64')}\n`;
  try {
    // 'wx' so two processes starting at once cannot overwrite each other's key after one has encrypted with it.
    writeFileSync(path, body, { mode: 0o600, flag: 'wx' });
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
  }
  return path;
}
