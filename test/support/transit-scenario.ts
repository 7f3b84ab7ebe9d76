// A transit key and the ciphertexts a store holds of it, on the test stack's real OpenBao: its own transit mount,
// a key, N plaintexts encrypted with it into KV secrets (25 per path), and the config of a secret holding them.
import { randomBytes } from 'node:crypto';
import { testStack } from './stack';
import { vaultClient, unique } from './harness';
import { vaultProviderYaml } from './rotator-config';

export interface TransitScenario {
  mount: string;
  key: string;
  /** KV API paths (secret/data/…) that hold the ciphertexts, `PER_PATH` each. */
  paths: string[];
  /** field → plaintext, per path: what every ciphertext must still decrypt to. */
  plaintexts: Array<Record<string, string>>;
  /** The v1 ciphertexts as first written (the test keeps them to show old versions stop decrypting). */
  original: Array<Record<string, string>>;
  yaml: string;
  env: Record<string, string>;
  taskQueue: string;
  secret: string;
}

export const PER_PATH = 25;
/** A field beside the ciphertexts that is not one: a rewrap must leave it as it is. */
export const OTHER_FIELD = { note: 'not a ciphertext' };

const b64 = (s: string) => Buffer.from(s).toString('base64');

/** Enables a transit mount of its own (so trials never share a key), creates the key and stores `count` ciphertexts. */
export async function transitScenario(
  count: number,
  options: { graceMs?: number; missingPath?: boolean; taskQueue?: string } = {},
): Promise<TransitScenario> {
  const bao = vaultClient();
  const mount = unique('transit');
  const key = 'orders';
  await bao.mount({ mount_point: mount, type: 'transit' });
  await bao.write(`${mount}/keys/${key}`, {});
  const paths: string[] = [];
  const plaintexts: Array<Record<string, string>> = [];
  const original: Array<Record<string, string>> = [];
  const base = unique('ciphertexts');
  for (let p = 0; p * PER_PATH < count; p++) {
    const n = Math.min(PER_PATH, count - p * PER_PATH);
    const plain: Record<string, string> = {};
    for (let i = 0; i < n; i++) plain[`f${String(p * PER_PATH + i).padStart(3, '0')}`] = `card-${randomBytes(6).toString('hex')}`;
    const fields = Object.keys(plain);
    const body = (await bao.write(`${mount}/encrypt/${key}`, {
      batch_input: fields.map((f) => ({ plaintext: b64(plain[f]!) })),
    })) as { data: { batch_results: Array<{ ciphertext: string }> } };
    const enc: Record<string, string> = {};
    fields.forEach((f, i) => (enc[f] = body.data.batch_results[i]!.ciphertext));
    const path = `secret/data/test/${base}/${p}`;
    await bao.write(path, { data: { ...enc, ...OTHER_FIELD } });
    paths.push(path);
    plaintexts.push(plain);
    original.push(enc);
  }
  const all = options.missingPath ? [...paths, `secret/data/test/${base}/missing`] : paths;
  const taskQueue = options.taskQueue ?? unique('tq');
  const secret = unique('orders_ciphertexts');
  const stack = testStack();
  const yaml = [
    'temporal:',
    `  address: "${stack.temporal!.address}"`,
    `  task_queue: ${taskQueue}`,
    'providers:',
    '  bao:',
    ...vaultProviderYaml(stack.vault!.address, 'TEST_VAULT_TOKEN'),
    'secrets:',
    `  ${secret}:`,
    '    provider: bao',
    `    path: ${all[0]}`,
    '    encryption_key:',
    '      type: transit',
    '      provider: bao',
    `      mount: ${mount}`,
    `      name: ${key}`,
    '    rewrap:',
    `      paths: [${all.slice(1).join(', ')}]`,
    `      grace_period: ${options.graceMs ?? 0}ms`,
    '      sample: 5',
  ].join('\n');
  return {
    mount,
    key,
    paths,
    plaintexts,
    original,
    yaml: yaml + '\n',
    env: { TEST_VAULT_TOKEN: stack.vault!.token },
    taskQueue,
    secret,
  };
}

export interface KeyFacts {
  latest: number;
  minDecryption: number;
}

export async function keyFacts(s: TransitScenario): Promise<KeyFacts> {
  const body = (await vaultClient().read(`${s.mount}/keys/${s.key}`)) as {
    data: { latest_version: number; min_decryption_version: number };
  };
  return { latest: body.data.latest_version, minDecryption: body.data.min_decryption_version };
}

export interface StoreFacts {
  /** Ciphertexts per key version, over every path. */
  versions: Record<number, number>;
  /** Ciphertexts that did not decrypt to what was encrypted (should be 0), and how many were tried. */
  undecryptable: number;
  decrypted: number;
  /** Paths whose other field changed (should be 0). */
  otherChanged: number;
}

/** Reads every path as it is now, decrypts every ciphertext there and compares it with what was encrypted. */
export async function storeFacts(s: TransitScenario): Promise<StoreFacts> {
  const bao = vaultClient();
  const versions: Record<number, number> = {};
  let undecryptable = 0;
  let decrypted = 0;
  let otherChanged = 0;
  for (const [p, path] of s.paths.entries()) {
    const data = ((await bao.read(path)) as { data: { data: Record<string, string> } }).data.data;
    if (data.note !== OTHER_FIELD.note) otherChanged++;
    const fields = Object.keys(s.plaintexts[p]!);
    for (const f of fields) {
      const v = Number(/^vault:v(\d+):/.exec(data[f] ?? '')?.[1] ?? 0);
      versions[v] = (versions[v] ?? 0) + 1;
    }
    const results = await decryptAll(
      s,
      fields.map((f) => data[f] ?? ''),
    );
    fields.forEach((f, i) => {
      if (results[i] === s.plaintexts[p]![f]) decrypted++;
      else undecryptable++;
    });
  }
  return { versions, undecryptable, decrypted, otherChanged };
}

/** Plaintext per ciphertext, or null where OpenBao refuses it. */
export async function decryptAll(s: TransitScenario, ciphertexts: string[]): Promise<Array<string | null>> {
  try {
    const body = (await vaultClient().write(`${s.mount}/decrypt/${s.key}`, {
      batch_input: ciphertexts.map((ciphertext) => ({ ciphertext })),
    })) as { data: { batch_results: Array<{ plaintext?: string; error?: string }> } };
    return body.data.batch_results.map((r) =>
      r.error || r.plaintext === undefined ? null : Buffer.from(r.plaintext, 'base64').toString(),
    );
  } catch {
    return ciphertexts.map(() => null); // every one refused: OpenBao answers the batch with a 400
  }
}
