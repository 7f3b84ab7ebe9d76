// The strategies, one line each: the type makes the compiler find a strategy of the plan that has no module.
import { alternatingUsers } from './alternating-users';
import { dualPassword } from './dual-password';
import { issued } from './issued';
import { singleUser } from './single-user';
import type { Strategy, StrategyName } from './strategy';

export const STRATEGIES: { readonly [S in StrategyName]: Strategy } = {
  'single-user': singleUser,
  'alternating-users': alternatingUsers,
  'dual-password': dualPassword,
  issued,
};
