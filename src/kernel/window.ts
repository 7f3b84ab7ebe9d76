// Time-of-day windows in a named time zone: whether a moment is inside one, and how long until it opens.
// Workflow-safe (pure, Intl only): the scheduled rotation decides with it at workflow time.

export interface TimeWindow {
  /** HH:MM, 24-hour, local to `time_zone`; `end` is exclusive, and before `start` when the window spans midnight. */
  start: string;
  end: string;
  time_zone: string;
}

const minutesOf = (hhmm: string): number => Number(hhmm.slice(0, 2)) * 60 + Number(hhmm.slice(3, 5));

/** Minutes since local midnight (with fraction) of `atMs` in `timeZone`. */
export function localMinutes(atMs: number, timeZone: string): number {
  const parts = new Intl.DateTimeFormat('en-GB', {
    timeZone,
    hourCycle: 'h23',
    hour: '2-digit',
    minute: '2-digit',
    second: '2-digit',
  }).formatToParts(new Date(atMs));
  const get = (type: string) => Number(parts.find((p) => p.type === type)?.value ?? 0);
  return get('hour') * 60 + get('minute') + get('second') / 60 + (atMs % 1000) / 60_000;
}

export function insideWindow(atMs: number, window: TimeWindow): boolean {
  const now = localMinutes(atMs, window.time_zone);
  const start = minutesOf(window.start);
  const end = minutesOf(window.end);
  return start < end ? now >= start && now < end : now >= start || now < end;
}

/**
 * How long from `atMs` until the window next opens; 0 when it is open. Across a daylight-saving change the answer
 * can be off by the shift, so a caller that sleeps on it checks again when it wakes.
 */
export function msUntilWindow(atMs: number, window: TimeWindow): number {
  if (insideWindow(atMs, window)) return 0;
  const now = localMinutes(atMs, window.time_zone);
  const minutes = (minutesOf(window.start) - now + 1440) % 1440;
  return Math.max(1000, Math.ceil(minutes * 60_000));
}
