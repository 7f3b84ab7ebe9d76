// dual-password: one login with two valid passwords at once (a Redis ACL user); revoke withdraws the
// old password of the pair.
import { revokeOldPassword } from './revoke';
import type { Strategy } from './strategy';
import { twoCredentials } from './two-credentials';

export const dualPassword: Strategy = {
  verifiesAtCreate: true,

  run: (r) => twoCredentials(r, (found) => revokeOldPassword(r, found)),

  // Once published, the new password is found by its version; before that, as this rotation's pending.
  undoApply: ({ plan, rotationId, status, undo }, found) => ({
    what: `withdraw the new password of ${found.nextUsername}`,
    run: () => undo.removePassword(plan, { rotationId, ...(status.version ? { version: status.version } : {}) }),
  }),
};
