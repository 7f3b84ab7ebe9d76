// writeBudget: one per provider, the write budget every rotation of a mass run takes tokens from before it writes to
// the store. A sliding log of grants: at most C tokens are granted in any window of C/perSecond seconds plus SLACK_MS,
// so the writes a grant covers may arrive up to SLACK_MS late at the store and any one second there still holds at
// most C. Grants are in history, so a worker's death loses none; a grant whose writes were never sent is only unused.
import { allHandlersFinished, condition, continueAsNew, setHandler } from '@temporalio/workflow';
import { takeSlotsUpdate, type SlotGrant, type SlotRequest, type WriteBudgetInput } from './mass-definitions';

/**
 * How late after its grant a write may reach the store: the activity sends only within 15 ms of it
 * (activities/write-budget.ts), and the request takes a moment to arrive.
 */
export const SLACK_MS = 100;
/** A grant is never sooner than this after it is asked for: the update's answer must reach the activity first. */
export const LEAD_MS = 250;
/** Grants per run before continue-as-new keeps the history short. */
const GRANTS_PER_RUN = 400;
/** A budget nobody asked for this long ends; the next request starts it again. */
const IDLE_MS = 5 * 60_000;

/** The earliest time ≥ `from` at which `n` more tokens keep every window of `windowMs` at or under `capacity`. */
export function nextSlot(
  grants: ReadonlyArray<{ at: number; n: number }>,
  from: number,
  n: number,
  capacity: number,
  windowMs: number,
): number {
  let t = from;
  for (;;) {
    const inWindow = grants.filter((g) => g.at > t - windowMs && g.at <= t);
    const used = inWindow.reduce((sum, g) => sum + g.n, 0);
    // A request larger than the whole capacity waits for an empty window and takes it alone.
    if (used + n <= capacity || (used === 0 && n > capacity)) return t;
    t = Math.min(...inWindow.map((g) => g.at)) + windowMs;
  }
}

export async function writeBudget(input: WriteBudgetInput = {}): Promise<void> {
  const grants = [...(input.grants ?? [])];
  let granted = 0;
  setHandler(
    takeSlotsUpdate,
    ({ perSecond, n }: SlotRequest): SlotGrant => {
      const capacity = Math.max(1, Math.floor(perSecond));
      const windowMs = (capacity / perSecond) * 1000 + SLACK_MS;
      const now = Date.now();
      // Never before an earlier grant: the log stays in order, and a window is checked against all it holds.
      const from = Math.max(now + LEAD_MS, grants.at(-1)?.at ?? 0);
      const at = nextSlot(grants, from, n, capacity, windowMs);
      grants.push({ at, n });
      // What no later window can reach any more (the longest window is a whole second per token, at most a minute).
      while (grants.length > 0 && grants[0]!.at < at - 60_000) grants.shift();
      granted++;
      return { at };
    },
    {
      validator: ({ perSecond, n }: SlotRequest) => {
        if (!(perSecond > 0) || !Number.isInteger(n) || n < 1)
          throw new Error('perSecond: expected > 0; n: expected an integer ≥ 1');
      },
    },
  );
  while (granted < GRANTS_PER_RUN) {
    const seen = granted;
    if (!(await condition(() => granted !== seen, IDLE_MS))) break; // idle: end; the next request starts it again
  }
  await condition(allHandlersFinished);
  if (granted >= GRANTS_PER_RUN) {
    const last = grants.at(-1)?.at ?? 0;
    await continueAsNew<typeof writeBudget>({ grants: grants.filter((g) => g.at > last - 60_000) });
  }
}
