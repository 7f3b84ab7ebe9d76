// The register of every patched() id in workflows/: what each changed, when, which replay fixture set first holds its
// marker, and when it can be retired. Workflow code asks `patched(id)` from here, never from @temporalio/workflow, so
// an id is a registered one (the type says so) and test/patches.unit.test.ts keeps the register and the code in step.
//
// Retiring a patch takes two deploys (Temporal's patching procedure):
//  1. deprecate: once no history that took the old branch can still be open, set `state: 'deprecated'` and delete the
//     old branch where the id is asked; `patched(id)` then calls deprecatePatch and answers true.
//  2. remove: once no history that recorded the patched() marker can still be open, delete the entry and the call.
// "Can still be open" is a question for the cluster: `temporal workflow list --query "WorkflowType='<workflow>' AND
// ExecutionStatus='Running' AND StartTime < '<date of the deploy>'"` finds none. Every such rotation counts, whatever
// phase it is in (a replay passes the patch point again), so the bound is a rotation's whole life (approval timeout +
// reconnect wait + grace period + drain timeout + retries), not the span of the patched step. The replay fixtures
// answer it for the tests: drop the sets named in the condition first (test/replay.test.ts replays every set it finds).
import { deprecatePatch, patched as sdkPatched } from '@temporalio/workflow';

export interface PatchEntry {
  /** The workflow that asks. */
  readonly workflow: 'rotateSecret' | 'keepLease' | 'writeBudget';
  /** What the patched branch does that the old one did not. */
  readonly change: string;
  /** The commit that introduced it: histories started on a worker before it take the old branch. */
  readonly since: string;
  /** The first fixture set whose histories hold its marker (no earlier set does). */
  readonly firstFixtureSet: `v${number}`;
  /** When `patched` can become `deprecatePatch` and the old branch go. */
  readonly deprecateWhen: string;
  /** When the `deprecatePatch` call itself can go. */
  readonly removeWhen: string;
  /** `patched` while histories of the old code may be open; `deprecated` once the old branch is gone. */
  readonly state: 'patched' | 'deprecated';
}

/** The sets recorded with a patched() marker, up to the deploy that deprecates it: they replay the marker. */
const REMOVE =
  'after the deploy that deprecated it, when no history it recorded with patched() is open: the fixture sets from ' +
  'its firstFixtureSet up to the last one recorded before the deprecation are dropped';

export const PATCHES = {
  'durable-release': {
    workflow: 'rotateSecret',
    change: 'the claim is released by a regular activity, after every step before it is in history (was: local)',
    since: 'f5f75cd',
    firstFixtureSet: 'v2',
    deprecateWhen: 'no rotation started before f5f75cd (2026-12-01 09:08 UTC) is open; drop fixture set v1',
    removeWhen: REMOVE,
    state: 'patched',
  },
  'consumer-steps': {
    workflow: 'rotateSecret',
    change: 'reconnect is planned before anything changes and runs a step per consumer (was: one notifyConsumers)',
    since: '03cfe05',
    firstFixtureSet: 'v4',
    deprecateWhen: 'no rotation started before 03cfe05 (2026-12-01 13:41 UTC) is open; drop fixture sets v1-v3',
    removeWhen: REMOVE,
    state: 'patched',
  },
  'approval-gate': {
    workflow: 'rotateSecret',
    change: 'a plan with approval waits for approve/reject before anything is read or changed',
    since: '1bf749a',
    firstFixtureSet: 'v4',
    deprecateWhen:
      'no rotation started before 1bf749a (2026-12-01 17:24 UTC) is open (none of those has an approval in its plan, ' +
      'so no fixture set replays the old branch); drop fixture sets v1-v3 with the others',
    removeWhen: REMOVE,
    state: 'patched',
  },
  'search-attributes': {
    workflow: 'rotateSecret',
    change: 'the RotatorOutcome search attribute is upserted as the rotation ends',
    since: '1bf749a',
    firstFixtureSet: 'v4',
    deprecateWhen: 'no rotation started before 1bf749a (2026-12-01 17:24 UTC) is open; drop fixture sets v1-v3',
    removeWhen: REMOVE,
    state: 'patched',
  },
  'cancel-at-commit': {
    workflow: 'rotateSecret',
    change: 'a cancel accepted before the commit point is honoured at it; past it the rest and the release run uncancellable',
    since: '0228d3f',
    firstFixtureSet: 'v5',
    deprecateWhen: 'no rotation started before 0228d3f (2026-12-01 17:39 UTC) is open; drop fixture sets v1-v4',
    removeWhen: REMOVE,
    state: 'patched',
  },
  'durable-approval': {
    workflow: 'rotateSecret',
    change: 'a 1 ms timer after the approval puts the decision in history before the first local step',
    since: 'e0c12db',
    firstFixtureSet: 'v6',
    deprecateWhen: 'no rotation started before e0c12db (2026-12-06 05:13 UTC) is open; drop fixture sets v1-v5',
    removeWhen: REMOVE,
    state: 'patched',
  },
  'converge-unstarted': {
    workflow: 'rotateSecret',
    change: 'a rotation ending without having run undoes what its claim shows a lost run of it changed',
    since: 'e0c12db',
    firstFixtureSet: 'v6',
    deprecateWhen: 'no rotation started before e0c12db (2026-12-06 05:13 UTC) is open; drop fixture sets v1-v5',
    removeWhen: REMOVE,
    state: 'patched',
  },
  'durable-drain-check': {
    workflow: 'rotateSecret',
    change: "revoke's quick look for open sessions is a regular activity that rides out an outage (was: local)",
    since: 'e0c12db',
    firstFixtureSet: 'v6',
    deprecateWhen: 'no rotation started before e0c12db (2026-12-06 05:13 UTC) is open; drop fixture sets v1-v5',
    removeWhen: REMOVE,
    state: 'patched',
  },
  'issued-credentials': {
    workflow: 'rotateSecret',
    change:
      'strategy issued: the target issues the credential into the pending value, and revoke suspends then withdraws the old one',
    since: '4638d2c',
    firstFixtureSet: 'v7',
    deprecateWhen:
      'never asked on an older branch (no rotation before it had strategy issued); it can be deprecated with the next ' +
      'set of patches, no fixture set to drop',
    removeWhen: REMOVE,
    state: 'patched',
  },
  'coalesced-rollout': {
    workflow: 'rotateSecret',
    change: 'a rollout consumer with a coalesce window asks each workload’s coordinator for the restart and waits for its answer',
    since: '2d7255b',
    firstFixtureSet: 'v8',
    deprecateWhen:
      'never asked on an older branch (no rotation before it had a coalesce window in its plan); it can be deprecated ' +
      'with the next set of patches, no fixture set to drop',
    removeWhen: REMOVE,
    state: 'patched',
  },
  'lean-revoke': {
    workflow: 'rotateSecret',
    change:
      "revoke's quick look for open sessions is local again (it reads only), and the claim's release is local when the " +
      'revoke before it is a regular activity whose result is in history: one server round trip per rotation, not three',
    since: 'd5777aa',
    firstFixtureSet: 'v8',
    deprecateWhen: 'no rotation started before d5777aa (2026-12-06 14:33 UTC) is open; drop fixture sets v1-v7',
    removeWhen: REMOVE,
    state: 'patched',
  },
  'asked-at-start': {
    workflow: 'rotateSecret',
    change:
      'the rotation asks its patches in its first activation; a run that took this one takes every branch of the ids ' +
      'before it (ASKED_WHERE_THEY_BRANCH) without asking. Asked where it branched, right after a local step, an id ' +
      'could find its marker one workflow task later than a replay reaches the ask: sdk-core records local-step ' +
      'markers with a query answer before the workflow has seen their results',
    since: '30d59e8',
    firstFixtureSet: 'v12',
    deprecateWhen:
      'no rotation started before 30d59e8 (2026-12-08 01:16 UTC) is open; then the calls of ASKED_WHERE_THEY_BRANCH ' +
      'and their old branches are deleted (a run of this code never asks them) and the rotateSecret fixtures of ' +
      'v1-v9 dropped. Never roll workers back past it: an older build fails the first workflow task of a run that ' +
      'took it on its marker',
    removeWhen: REMOVE,
    state: 'patched',
  },
  'renew-by-renew-at': {
    workflow: 'keepLease',
    change: 'renewals are bound by renew_at of the granted duration, not pushed back by min_renewal_seconds',
    since: 'f637c76',
    firstFixtureSet: 'v6',
    deprecateWhen:
      'no keepLease run started before f637c76 (2026-12-06 04:43 UTC) is open (each keeper continues as new, and ' +
      'its next run takes the new branch); drop the keep-lease-cycle fixtures of v3-v5',
    removeWhen: REMOVE,
    state: 'patched',
  },
  'short-keeper-history': {
    workflow: 'keepLease',
    change:
      'the keeper continues as new past 200 events (was 2,000), so one evicted from a bounded cache replays little, ' +
      'and its renewals and re-issues are jittered (a tenth of the lead)',
    since: '80d6814',
    firstFixtureSet: 'v8',
    deprecateWhen:
      'no keepLease run started before it is open (a keeper continues as new within 2,000 events, and its next run ' +
      'takes the new branch); drop the keep-lease-cycle fixtures of v3-v6',
    removeWhen: REMOVE,
    state: 'patched',
  },
  'grace-renewal': {
    workflow: 'keepLease',
    change:
      'a re-issue renews the old lease to outlive its grace period (was: the old lease ended at its last TTL, which ' +
      'could come before the grace period did)',
    since: 'a225e2d',
    firstFixtureSet: 'v9',
    deprecateWhen:
      'no keepLease run started before it is open (each keeper continues as new within 2,000 events, and its next ' +
      'run takes the new branch); drop the keep-lease-cycle fixtures of v3-v6 and v8',
    removeWhen: REMOVE,
    state: 'patched',
  },
  'run-per-cycle': {
    workflow: 'keepLease',
    change:
      'each step (renewal, re-issue, revoke) ends the run with continue-as-new (was: a run lasted up to 200 events), ' +
      'so a keeper outside the cache replays a dozen events when it wakes',
    since: 'b96995a',
    firstFixtureSet: 'v10',
    deprecateWhen:
      'no keepLease run started before it is open (a run of the old branch continues as new within 200 events, and its ' +
      'next run takes the new branch); drop the keep-lease-cycle fixtures of v3-v9',
    removeWhen: REMOVE,
    state: 'patched',
  },
  'patch-once': {
    workflow: 'keepLease',
    change:
      'a run continued as new carries the patch ids it took, and the next run takes them without asking (was: every ' +
      "run recorded a marker and a search-attribute upsert per patch, 8 of a renewal run's 20 events)",
    since: '6037c61',
    firstFixtureSet: 'v10',
    deprecateWhen:
      'no keepLease run started before it is open (the next run of an older one asks it); drop the keep-lease-cycle ' +
      'fixtures of v3-v9. Never roll workers back past it: a run that carried its patches has no marker for an older ' +
      'build to find',
    removeWhen: REMOVE,
    state: 'patched',
  },
  'paced-reissue': {
    workflow: 'keepLease',
    change:
      'a lease too short for the grace period and the lead is replaced halfway from its publish to the lead before ' +
      'its end (2 s after the publish at the earliest), and the status warns (was: at once, so the keeper issued ' +
      'credentials back to back)',
    since: '133dbf6',
    firstFixtureSet: 'v11',
    deprecateWhen:
      'no keepLease run started before it is open (every step continues as new, and the next run asks it); drop the ' +
      'keep-lease-cycle fixtures of v3-v10',
    removeWhen: REMOVE,
    state: 'patched',
  },
  'write-budget-window': {
    workflow: 'writeBudget',
    change:
      'an idle write budget ends only once no window can reach a grant it gave (was: after 5 min idle, whatever the ' +
      'window), and grants are delays the caller waits, not times in the server clock',
    since: 'cd678bc',
    firstFixtureSet: 'v8',
    deprecateWhen:
      'no writeBudget run started before cd678bc (2026-12-06 17:33 UTC) is open (an idle budget ends within 5 min, a busy one continues ' +
      'as new every 400 grants and its next run takes the new branch); no fixture set holds the old branch',
    removeWhen: REMOVE,
    state: 'patched',
  },
  'write-budget-leases': {
    workflow: 'writeBudget',
    change:
      'the budget leases shares of its capacity (tokens per window, for a while) that a process spends by its own ' +
      'clock, counted to the lease end plus a window (was: moments only, missed when the answer came late); a run ' +
      'without the patch asked for a lease answers none and continues as new',
    since: 'f80cabd',
    firstFixtureSet: 'v8',
    deprecateWhen:
      'no writeBudget run started before f80cabd (2026-12-06 20:10 UTC) is open (an idle budget ends within 5 min, a busy one ' +
      'continues as new every 400 grants, and a run without the patch continues as new at its first lease ask)',
    removeWhen: REMOVE,
    state: 'patched',
  },
} as const satisfies Record<string, PatchEntry>;

export type PatchId = keyof typeof PATCHES;

/**
 * rotateSecret's ids asked where they branch, in the middle of the run. A run that took `asked-at-start` answers them
 * true without asking, so its history holds no marker past its first workflow task. The list is closed: an id added
 * to it would answer true on the replay of a run that took asked-at-start before the id existed. A rotateSecret patch
 * added later is asked in the first activation, never where it branches.
 */
export const ASKED_WHERE_THEY_BRANCH: ReadonlySet<PatchId> = new Set<PatchId>([
  'durable-release',
  'consumer-steps',
  'approval-gate',
  'search-attributes',
  'cancel-at-commit',
  'durable-approval',
  'converge-unstarted',
  'durable-drain-check',
  'issued-credentials',
  'coalesced-rollout',
  'lean-revoke',
]);

/**
 * Whether this run took asked-at-start. Module state is the run's own: the SDK gives each workflow run its own module
 * cache (a bundle that does not is refused by the reusable-context worker), and a replay starts it afresh.
 */
let tookAskedAtStart = false;

/**
 * Records this run's answer to `patched('asked-at-start')`, which rotateSecret asks in its first activation, before
 * anything awaits: the only point whose marker no query, local step or outage can move into another workflow task
 * than the one a replay asks it in.
 */
export function askedAtStart(took: boolean): void {
  tookAskedAtStart = took;
}

/**
 * `patched(id)` for a run continued from one that already took the patched branch (`taken`, carried in its input):
 * true without asking, so the run records no marker and no search-attribute upsert for it. A run continued as new
 * from new code is a new history on new code, so asking would answer true anyway; the input is in the history, so a
 * replay takes the same path. Runs of a workflow that continues as new every few events use it (the lease keeper).
 * `taken` is workflow input: anything but an array of ids counts as none. Rolling workers back to a build before
 * patch-once is unsafe for such runs: the old code asks, finds no marker, and takes the old branches.
 */
export function patchedOnce(id: PatchId, taken: unknown): boolean {
  return Array.isArray(taken) && taken.includes(id) ? true : patched(id);
}

/**
 * Whether this run takes the branch patch `id` added: Temporal's patched() for a registered id, or, once the register
 * deprecates it, deprecatePatch() and true. An id asked where it branches answers true without asking in a run that
 * took asked-at-start.
 */
export function patched(id: PatchId): boolean {
  if (tookAskedAtStart && ASKED_WHERE_THEY_BRANCH.has(id)) return true;
  const entry: PatchEntry = PATCHES[id];
  if (entry.state === 'deprecated') {
    deprecatePatch(id);
    return true;
  }
  return sdkPatched(id);
}
