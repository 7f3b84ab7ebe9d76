// The `sops` store plugin: secrets kept in one SOPS-encrypted YAML or JSON file of a git repository, each at a key path.
// A write is one commit pushed to the branch; versions are its commits; pending values live in refs beside it.
import { z } from 'zod';
import { stalePending } from '../../../src/config/fields';
import type { StorePlugin } from '../../plugin';
import type { StoreCapabilities } from '../../types';

/** One key of a path (`apps/orders/db`): a plain name, which is also safe inside a git ref name. */
const SEGMENT = /^[A-Za-z0-9_][A-Za-z0-9_-]{0,127}$/;
export const COMMIT = /^[0-9a-f]{40}$/;

export const schema = z
  .object({
    type: z.literal('sops'),
    /** The git remote the file is pushed to: a URL, or the path of a (bare) repository on disk. */
    remote: z.string().min(1, { message: 'expected the git remote (a URL or a path) that holds the SOPS file' }),
    branch: z
      .string()
      .regex(/^[A-Za-z0-9._/-]+$/, { message: 'expected a branch name' })
      .refine((b) => !b.includes('..') && !b.startsWith('/') && !b.endsWith('/') && !b.endsWith('.lock'), {
        message: 'expected a branch name',
      })
      .default('main'),
    /** The encrypted file's path inside the repository; .yaml, .yml or .json says its format. */
    file: z.string().regex(/^[A-Za-z0-9_][A-Za-z0-9_.-]*(\/[A-Za-z0-9_][A-Za-z0-9_.-]*)*\.(ya?ml|json)$/, {
      message: 'expected the path of a .yaml, .yml or .json file inside the repository (plain names separated by /)',
    }),
    /**
     * The private age identity sops decrypts with (passed to sops as SOPS_AGE_KEY_FILE; never read or logged by
     * rotator). Without it sops looks where it always does (SOPS_AGE_KEY_FILE, SOPS_AGE_KEY, ~/.config/sops/age).
     */
    age_key_file: z.string().min(1).optional(),
    /** The sops binary. */
    sops: z.string().min(1).default('sops'),
    /** The git binary. */
    git: z.string().min(1).default('git'),
    /**
     * The local clone rotator works in. Without it, each worker makes its own in a temporary folder and removes it
     * when it stops; two processes must never share one.
     */
    checkout: z.string().min(1).optional(),
    /** The top-level key under which a rotation keeps the value it replaced (at the same path), until the next one. */
    previous_key: z.string().regex(SEGMENT, { message: 'expected a plain key name' }).default('previous'),
    /** Who the commits are by. */
    author: z
      .object({ name: z.string().min(1), email: z.string().min(1) })
      .strict()
      .default({ name: 'rotator', email: 'rotator@localhost' }),
    stale_pending: stalePending,
  })
  .strict();

export type SopsConfig = z.infer<typeof schema>;

/** A path's keys, or why it cannot be one: plain names separated by /, none of them the file's own `sops` key. */
export function pathKeys(path: string, previousKey: string): string[] | string {
  const keys = path.split('/');
  if (!keys.every((k) => SEGMENT.test(k))) {
    return `expected key names (letters, digits, _ and -) separated by /, got ${JSON.stringify(path)}`;
  }
  if (keys[0] === 'sops') return 'the top-level key sops holds the file’s encryption metadata; choose another';
  if (keys[0] === previousKey) return `the top-level key ${previousKey} is where rotator keeps previous values (previous_key)`;
  return keys;
}

export const CAPABILITIES: StoreCapabilities = { writable: true, versions: true, checkAndSet: true };

export const sops = {
  schema,
  capabilities: CAPABILITIES,
  checkPath: (path) => {
    const keys = pathKeys(path, 'previous');
    return typeof keys === 'string' ? keys : null;
  },
  preflight: async (config, path) => (await import('./preflight')).preflight(config, path),
  checkVersion: (version) => (COMMIT.test(version) ? null : 'expected a git commit id (40 hexadecimal digits)'),
  async create(config) {
    const { SopsStore } = await import('./store');
    return new SopsStore({ ...config, stalePending: config.stale_pending });
  },
} satisfies StorePlugin<SopsConfig>;
