// The reader library's value cache: what was read per `secret://` URI, kept for the secret's `cache.ttl`.
import type { Config } from '../config/schema';

/**
 * How long a reader keeps a value of `secret`, from its `cache:` block. No block, or `enabled: false`: 0, every read
 * goes to the store (what `rotator get` does). `enabled` without `ttl`: until something refreshes it (the
 * `refresh_interval` timer, a reconnect signal, or a refused credential).
 */
export function ttlOf(secret: Config['secrets'][string]): number {
  const cache = secret.cache;
  if (!cache || !cache.enabled) return 0;
  return cache.ttl ?? Number.POSITIVE_INFINITY;
}

interface Entry<V> {
  value: V;
  readAt: number;
  ttlMs: number;
}

/** Values by key with the moment they were read; `now` is the clock (a test passes its own). */
export class TtlCache<V> {
  private readonly entries = new Map<string, Entry<V>>();

  constructor(private readonly now: () => number = Date.now) {}

  /** The value if it was read less than its ttl ago. */
  fresh(key: string): V | undefined {
    const entry = this.entries.get(key);
    return entry && this.now() - entry.readAt < entry.ttlMs ? entry.value : undefined;
  }

  /** The value last read, however old: what a refresh compares the new one against. */
  last(key: string): V | undefined {
    return this.entries.get(key)?.value;
  }

  set(key: string, value: V, ttlMs: number): void {
    this.entries.set(key, { value, readAt: this.now(), ttlMs });
  }

  keys(): string[] {
    return [...this.entries.keys()];
  }

  clear(): void {
    this.entries.clear();
  }
}
