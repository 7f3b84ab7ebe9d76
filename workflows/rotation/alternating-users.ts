// alternating-users: two logins take turns; the new one is made valid beside the old, which revoke drops once its
// sessions have drained.
import { revokeOldLogin } from './revoke';
import type { Strategy } from './strategy';
import { twoCredentials } from './two-credentials';

export const alternatingUsers: Strategy = {
  verifiesAtCreate: true,

  run: (r) => twoCredentials(r, (found) => revokeOldLogin(r, found)),

  undoApply: ({ plan, rotationId, undo }, found) => ({
    what: `disable login ${found.nextUsername}`,
    run: () => undo.disableLogin(plan, { rotationId, username: found.nextUsername }),
  }),
};
