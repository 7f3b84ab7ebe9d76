// single-user: one login, the AWS order: stage pending, change the database, verify, promote. Between the change and
// the promote, the store's current password no longer works: that window is what single-user trades for one login.
import { commitThen, create, publish, reconnect, verify } from './steps';
import type { Strategy } from './strategy';

export const singleUser: Strategy = {
  verifiesAtCreate: false,

  async run(r) {
    const found = await create(r);
    await verify(r);
    const published = await publish(r, found);
    // the database and the store agree again
    await commitThen(r, async () => {
      await reconnect(r, published.version, found);
      await r.phase('revoke', async () => {
        r.status.notes.push('single-user: the old password stopped working when the new one was set');
      });
    });
  },

  undoApply({ plan, rotationId, restorer }, found) {
    const version = found.currentVersion;
    return version
      ? {
          what: `restore the password of version ${version}`,
          run: () => restorer.restorePassword(plan, { rotationId, version }),
        }
      : null;
  },
};
