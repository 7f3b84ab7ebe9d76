// The hook client's settings and the time they may take: light (no imports), for the plugin's schema.

/** The longest wait between two attempts: the doubling stops here. */
export const MAX_BACKOFF_MS = 5_000;

export interface HookSettings {
  url: string;
  /** Sent in every request, so one hook can serve several accounts (or clients, or projects). */
  account?: string;
  timeoutMs: number;
  attempts: number;
  /** The wait after the first failed attempt; it doubles after each one, up to MAX_BACKOFF_MS. */
  backoffMs: number;
  /** Answers must carry X-Rotator-Signature over the request's signature and their raw body. */
  signedAnswers: boolean;
}

/** The waits between attempts: backoff, doubled each time, at most MAX_BACKOFF_MS. */
export function backoffDelays(settings: Pick<HookSettings, 'attempts' | 'backoffMs'>): number[] {
  return Array.from({ length: settings.attempts - 1 }, (_, i) => Math.min(settings.backoffMs * 2 ** i, MAX_BACKOFF_MS));
}

/** Every attempt running into its timeout, with every wait between them: what one step may take. */
export function worstCaseMs(settings: Pick<HookSettings, 'attempts' | 'backoffMs' | 'timeoutMs'>): number {
  return settings.attempts * settings.timeoutMs + backoffDelays(settings).reduce((a, b) => a + b, 0);
}
