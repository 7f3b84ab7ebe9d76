// Unit tests for the payload encryption codec, key loading and the shared data converter; no server needed.
import { mkdtempSync, mkdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { randomBytes } from 'node:crypto';
import { inspect } from 'node:util';
import { ApplicationFailure, defaultPayloadConverter, type Payload } from '@temporalio/common';
import { decodeFailure, encodeFailure, loadDataConverter } from '@temporalio/common/lib/internal-non-workflow';
import { temporal } from '@temporalio/proto';
import { AesGcmCodec, ensureLocalKeyFile, loadCodecKeys, type CodecKeys } from '../src/client/codec/aes-gcm-codec';
import { getDataConverter } from '../src/client/codec/data-converter';

const SECRET = 'hunter2-super-secret-password';

function keysOf(active: string, ...entries: Array<[string, Buffer]>): CodecKeys {
  return { activeKeyId: active, keys: new Map(entries) };
}

const k1: [string, Buffer] = ['k1', randomBytes(32)];
const k2: [string, Buffer] = ['k2', randomBytes(32)];

const meta = (p: Payload, name: string): string | undefined => {
  const v = p.metadata?.[name];
  return v ? Buffer.from(v).toString('utf8') : undefined;
};

function thrownMessage(fn: () => unknown): string {
  try {
    fn();
  } catch (err) {
    return (err as Error).message;
  }
  throw new Error('expected an error');
}

async function captureError(fn: () => Promise<unknown>): Promise<Error> {
  try {
    await fn();
  } catch (err) {
    return err as Error;
  }
  throw new Error('expected an error');
}

describe('AesGcmCodec', () => {
  it('round-trips a payload through encode and decode', async () => {
    const codec = new AesGcmCodec(keysOf('k1', k1));
    const original = defaultPayloadConverter.toPayload({ password: SECRET });
    const [encoded] = await codec.encode([original]);
    expect(meta(encoded, 'encoding')).toBe('binary/encrypted');
    expect(meta(encoded, 'encryption-key-id')).toBe('k1');
    const [decoded] = await codec.decode([encoded]);
    expect(meta(decoded, 'encoding')).toBe('json/plain');
    expect(defaultPayloadConverter.fromPayload(decoded)).toEqual({ password: SECRET });
  });

  it('uses a fresh IV so the same payload encrypts differently each time', async () => {
    const codec = new AesGcmCodec(keysOf('k1', k1));
    const p = defaultPayloadConverter.toPayload(SECRET);
    const [a, b] = await codec.encode([p, p]);
    expect(Buffer.from(a.data!).equals(Buffer.from(b.data!))).toBe(false);
  });

  it('never puts the plaintext in the encoded bytes, raw or base64', async () => {
    const codec = new AesGcmCodec(keysOf('k1', k1));
    const [encoded] = await codec.encode([defaultPayloadConverter.toPayload(SECRET)]);
    const wire = Buffer.from(temporalPayloadBytes(encoded));
    expect(wire.includes(SECRET)).toBe(false);
    expect(wire.includes(Buffer.from(SECRET).toString('base64'))).toBe(false);
    expect(wire.toString('base64')).not.toContain(Buffer.from(SECRET).toString('base64'));
  });

  it('refuses a payload that is not binary/encrypted, naming the fix; reads it only while migrating', async () => {
    const plain = defaultPayloadConverter.toPayload('written without the key');
    const strict = new AesGcmCodec(keysOf('k1', k1));
    await expect(strict.decode([plain])).rejects.toThrow(/refusing an unencrypted payload \(json\/plain\).*k1/);
    const migrating = new AesGcmCodec({ ...keysOf('k1', k1), allowPlaintext: true });
    const [decoded] = await migrating.decode([plain]);
    expect(decoded).toBe(plain);
  });

  it('still decodes a payload encrypted under an old key after the active key rotates', async () => {
    const before = new AesGcmCodec(keysOf('k1', k1));
    const [old] = await before.encode([defaultPayloadConverter.toPayload(SECRET)]);
    const after = new AesGcmCodec(keysOf('k2', k2, k1));
    const [fresh] = await after.encode([defaultPayloadConverter.toPayload('new')]);
    expect(meta(fresh, 'encryption-key-id')).toBe('k2');
    const [a, b] = await after.decode([old, fresh]);
    expect(defaultPayloadConverter.fromPayload(a)).toBe(SECRET);
    expect(defaultPayloadConverter.fromPayload(b)).toBe('new');
  });

  it('fails to decode with an error naming the key id when that key is unknown', async () => {
    const [encoded] = await new AesGcmCodec(keysOf('k1', k1)).encode([defaultPayloadConverter.toPayload(SECRET)]);
    const err = await captureError(() => new AesGcmCodec(keysOf('k2', k2)).decode([encoded]));
    expect(err.message).toContain('unknown key id "k1"');
    expect(err.message).not.toContain(k1[1].toString('base64'));
    expect(err.message).not.toContain(k2[1].toString('base64'));
  });

  it('rejects tampered ciphertext', async () => {
    const codec = new AesGcmCodec(keysOf('k1', k1));
    const [encoded] = await codec.encode([defaultPayloadConverter.toPayload(SECRET)]);
    const data = Buffer.from(encoded.data!);
    data[14] ^= 0x01;
    await expect(codec.decode([{ ...encoded, data }])).rejects.toThrow(/failed authentication/);
  });

  it('rejects a payload whose key id metadata was swapped to another known key', async () => {
    const codec = new AesGcmCodec(keysOf('k1', k1, k2));
    const [encoded] = await codec.encode([defaultPayloadConverter.toPayload(SECRET)]);
    const swapped = { ...encoded, metadata: { ...encoded.metadata, 'encryption-key-id': Buffer.from('k2') } };
    await expect(codec.decode([swapped])).rejects.toThrow(/key id "k2" failed authentication/);
  });

  it('refuses to construct when the active key id is not among the keys', () => {
    expect(() => new AesGcmCodec(keysOf('missing', k1))).toThrow(/active key id "missing"/);
  });
});

function temporalPayloadBytes(p: Payload): Uint8Array {
  return temporal.api.common.v1.Payload.encode(p).finish();
}

describe('loadCodecKeys', () => {
  const dir = mkdtempSync(join(tmpdir(), 'rotator-codec-'));
  const b64 = (b: Buffer): string => b.toString('base64');

  it('reads a key file where the first key is active and later keys still decrypt', () => {
    const file = join(dir, 'keys');
    writeFileSync(file, `# codec keys\n\nk2:${b64(k2[1])}\n  # retired\nk1:${b64(k1[1])}\n`);
    const keys = loadCodecKeys({ ROTATOR_CODEC_KEY_FILE: file });
    expect(keys.activeKeyId).toBe('k2');
    expect([...keys.keys.keys()]).toEqual(['k2', 'k1']);
    expect(keys.keys.get('k1')!.equals(k1[1])).toBe(true);
  });

  it('prefers the key file over the key variables', () => {
    const file = join(dir, 'keys-pref');
    writeFileSync(file, `k1:${b64(k1[1])}\n`);
    const keys = loadCodecKeys({ ROTATOR_CODEC_KEY_FILE: file, ROTATOR_CODEC_KEY: `k2:${b64(k2[1])}` });
    expect(keys.activeKeyId).toBe('k1');
  });

  it('reads the active key and comma-separated old keys from the environment', () => {
    const k3 = randomBytes(32);
    const keys = loadCodecKeys({
      ROTATOR_CODEC_KEY: `k2:${b64(k2[1])}`,
      ROTATOR_CODEC_OLD_KEYS: `k1:${b64(k1[1])}, old.3:${b64(k3)}`,
    });
    expect(keys.activeKeyId).toBe('k2');
    expect([...keys.keys.keys()]).toEqual(['k2', 'k1', 'old.3']);
  });

  it('rejects a 16-byte key with an error that names the variable and omits the key', () => {
    const short = b64(randomBytes(16));
    const message = thrownMessage(() => loadCodecKeys({ ROTATOR_CODEC_KEY: `k1:${short}` }));
    expect(message).toContain('ROTATOR_CODEC_KEY: key must be 32 bytes base64 (got 16)');
    expect(message).not.toContain(short);
  });

  it('names the file line of a bad key without printing it', () => {
    const file = join(dir, 'keys-bad');
    const short = b64(randomBytes(16));
    writeFileSync(file, `k1:${b64(k1[1])}\n# old\nk0:${short}\n`);
    const message = thrownMessage(() => loadCodecKeys({ ROTATOR_CODEC_KEY_FILE: file }));
    expect(message).toMatch(/ROTATOR_CODEC_KEY_FILE .* line 3: key must be 32 bytes base64 \(got 16\)/);
    expect(message).not.toContain(short);
  });

  it('does not echo a key written in place of the key id', () => {
    const key = b64(k1[1]);
    const message = thrownMessage(() => loadCodecKeys({ ROTATOR_CODEC_KEY: `${key}:k1` }));
    expect(message).toMatch(/ROTATOR_CODEC_KEY: key id must match/);
    expect(message).not.toContain(key);
  });

  it('rejects duplicate key ids and malformed entries', () => {
    expect(() => loadCodecKeys({ ROTATOR_CODEC_KEY: `k1:${b64(k1[1])}`, ROTATOR_CODEC_OLD_KEYS: `k1:${b64(k2[1])}` })).toThrow(
      /duplicate key id "k1"/,
    );
    expect(() => loadCodecKeys({ ROTATOR_CODEC_KEY: b64(k1[1]) })).toThrow(/ROTATOR_CODEC_KEY: expected keyid:base64key/);
    expect(() => loadCodecKeys({ ROTATOR_CODEC_KEY: 'k1:not base64!' })).toThrow(/not valid base64/);
  });

  it('rejects a key file path that is a directory or cannot be read', () => {
    const sub = join(dir, 'a-directory');
    mkdirSync(sub);
    expect(() => loadCodecKeys({ ROTATOR_CODEC_KEY_FILE: sub })).toThrow(/ROTATOR_CODEC_KEY_FILE: .* is a directory/);
    expect(() => loadCodecKeys({ ROTATOR_CODEC_KEY_FILE: join(dir, 'nope') })).toThrow(/cannot read .*ENOENT/);
  });

  it('says which variables to set when no key is configured', () => {
    expect(() => loadCodecKeys({})).toThrow(/ROTATOR_CODEC_KEY_FILE.*ROTATOR_CODEC_KEY/);
  });

  it('does not print key bytes when the loaded keys are inspected', () => {
    const keys = loadCodecKeys({ ROTATOR_CODEC_KEY: `k1:${b64(k1[1])}` });
    const shown = inspect(keys);
    expect(shown).toContain('k1');
    expect(shown).not.toContain(k1[1].toString('hex').slice(0, 8));
    expect(JSON.stringify(keys)).not.toContain(b64(k1[1]));
  });
});

describe('ensureLocalKeyFile', () => {
  it('creates a private key file with a dated, unique local key once and then leaves it alone', () => {
    const file = join(mkdtempSync(join(tmpdir(), 'rotator-local-')), 'nested', 'codec.keys');
    const path = ensureLocalKeyFile(file);
    expect(path).toBe(file);
    expect(statSync(path).mode & 0o777).toBe(0o600);
    const first = readFileSync(path, 'utf8');
    const keys = loadCodecKeys({ ROTATOR_CODEC_KEY_FILE: path });
    expect(keys.activeKeyId).toMatch(/^local-\d{8}-[0-9a-f]{8}$/);
    expect(keys.keys.get(keys.activeKeyId)).toHaveLength(32);
    ensureLocalKeyFile(file);
    expect(readFileSync(path, 'utf8')).toBe(first);
    // Two keys made the same day get different ids, so a mismatch reads as a missing key, not as tampering.
    const other = loadCodecKeys({ ROTATOR_CODEC_KEY_FILE: ensureLocalKeyFile(`${file}.2`) });
    expect(other.activeKeyId).not.toBe(keys.activeKeyId);
  });
});

describe('getDataConverter', () => {
  const converter = loadDataConverter(getDataConverter(keysOf('k1', k1)));

  it('encrypts payloads with the AES-GCM codec', async () => {
    const [encoded] = await converter.payloadCodecs[0].encode([converter.payloadConverter.toPayload(SECRET)]);
    expect(meta(encoded, 'encoding')).toBe('binary/encrypted');
  });

  it('moves failure messages and stack traces into encoded attributes that the codec then encrypts', async () => {
    const failure = converter.failureConverter.errorToFailure(
      ApplicationFailure.create({ message: `login failed for ${SECRET}`, type: 'VERIFY_FAILED' }),
      converter.payloadConverter,
    );
    expect(failure.message).toBe('Encoded failure');
    expect(failure.stackTrace ?? '').not.toContain(SECRET);
    expect(failure.encodedAttributes).toBeDefined();

    const encoded = await encodeFailure(converter.payloadCodecs, failure);
    expect(meta(encoded.encodedAttributes!, 'encoding')).toBe('binary/encrypted');
    expect(Buffer.from(encoded.encodedAttributes!.data!).includes(SECRET)).toBe(false);

    const decoded = await decodeFailure(converter.payloadCodecs, encoded);
    const err = converter.failureConverter.failureToError(decoded, converter.payloadConverter);
    expect(err).toBeInstanceOf(ApplicationFailure);
    expect(err.message).toBe(`login failed for ${SECRET}`);
    expect((err as ApplicationFailure).type).toBe('VERIFY_FAILED');
  });
});
