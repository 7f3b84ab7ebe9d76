// Durations as people write them (`500ms`, `30s`, `5m`, `1h`, `1d`), for config files and CLI arguments alike.
export const DURATION = /^(\d+)(ms|s|m|h|d)$/;
const UNIT_MS = { ms: 1, s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000 } as const;

/** '30s' → 30000. Durations are written as text so a reader never guesses the unit. */
export function parseDuration(text: string): number {
  const m = DURATION.exec(text);
  if (!m) throw new Error(`invalid duration ${JSON.stringify(text)}`);
  return Number(m[1]) * UNIT_MS[m[2] as keyof typeof UNIT_MS];
}

/** 1800000 → '30m': the largest unit that divides it. */
export function formatDuration(ms: number): string {
  for (const [unit, size] of Object.entries(UNIT_MS).reverse()) if (ms % size === 0 && ms >= size) return `${ms / size}${unit}`;
  return `${ms}ms`;
}
