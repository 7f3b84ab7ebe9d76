// alternating-users and dual-password: the old credential stays valid beside the new one (a second login, or a
// second password of the same login) until revoke, so the store can publish before consumers verify.
import type { Inspection } from '../../activities/rotation';
import type { Rotation } from './context';
import { commitThen, create, publish, reconnect, verify } from './steps';

/** create → publish → reconnect → verify, then past the commit point `revoke` withdraws the old credential. */
export async function twoCredentials(r: Rotation, revoke: (found: Inspection) => Promise<void>): Promise<void> {
  const found = await create(r);
  const published = await publish(r, found);
  await reconnect(r, published.version, found);
  await verify(r, published.version);
  // verified and published: from here on nothing is rolled back
  await commitThen(r, () => r.phase('revoke', () => revoke(found)));
}
