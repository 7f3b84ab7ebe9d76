// The mass rotation's activity: a secret's plan from the worker's config, with the write budget its store's writes
// take tokens from (`mass_rotation.write_budgets`, else the store plugin's own limit, else none).
import type { Config } from '../src/config/schema';
import { planRotation, type RotationPlan } from '../src/config/plan';
import { RotatorError } from '../src/kernel/errors';
import { guarded } from './guarded';
import { storePlugin } from './stores';

export interface MassDeps {
  config: Config;
  secrets?: ReadonlyArray<string>;
}

export function createMassActivities({ config, secrets = [] }: MassDeps) {
  return {
    massPlan: guarded(async (secret: string): Promise<RotationPlan> => {
      if (!config.secrets[secret]) throw new RotatorError('NOT_FOUND', `the worker's config has no secret ${secret}`);
      const plan = planRotation(config, secret);
      const provider = plan.store.provider;
      const block = config.providers[provider];
      const perSecond = config.mass_rotation?.write_budgets[provider] ?? (block ? storePlugin(block).writeBudget : undefined);
      return perSecond ? { ...plan, writeBudget: { key: provider, perSecond } } : plan;
    }, secrets),
  };
}

export type MassActivities = ReturnType<typeof createMassActivities>;
