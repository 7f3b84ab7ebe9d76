// What a sweep's report lists when more secrets are not ok than it keeps (reportedNotOk).
import { reportedNotOk } from '../activities/lifecycle';
import { NOT_OK_LISTED, type SecretState } from '../workflows/lifecycle-definitions';

const row = (secret: string, state: SecretState, expires: number | null) => ({ secret, state, expires });

it('lists the most severe rows first, so keepers without a credential cannot push an overdue or failing secret out', () => {
  // A paced start of many keepers: each is due, with no credential and no expiry yet.
  const starting = Array.from({ length: NOT_OK_LISTED + 1 }, (_, i) => row(`kept_${i}`, 'due', null));
  const listed = reportedNotOk([
    ...starting,
    row('expiring', 'due', 2_000),
    row('expired', 'overdue', 1_000),
    row('broken', 'failing', null),
    row('stuck', 'needs-human', 5_000),
  ]);
  expect(listed).toHaveLength(NOT_OK_LISTED);
  expect(listed.slice(0, 5).map((r) => r.secret)).toEqual(['stuck', 'broken', 'expired', 'expiring', 'kept_0']);
});

it('within a state, lists the soonest expiry first and rows without one last', () => {
  const listed = reportedNotOk([row('none', 'due', null), row('later', 'due', 9_000), row('sooner', 'due', 3_000)]);
  expect(listed.map((r) => r.secret)).toEqual(['sooner', 'later', 'none']);
});
