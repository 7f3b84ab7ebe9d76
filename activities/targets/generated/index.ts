// The `generated` target plugin: keys no system issues (random bytes, a key pair, a JWT signing key), which rotator
// generates itself and rotates by `issued`, the previous value kept beside the new one until its grace period ends.
import type { z } from 'zod';
import type { IssuingTargetPlugin } from '../../plugin';
import type { TargetCapabilities } from '../../types';
import { schema } from './schema';

export { schema } from './schema';

/** A generated value is no login: neither a second password nor sessions apply. */
export const CAPABILITIES: TargetCapabilities = { dualPassword: false, sessionsPerLogin: false };

export const generated = {
  schema,
  issues: true,
  capabilities: CAPABILITIES,
  strategies: ['issued'],
  defaultVerify: 'the stored value holds a working key',
  /** What status and history name the credential by until it has an id: the kind of value. */
  login: (config) => `generated ${config.generate}`,
  async create(target) {
    const { GeneratedTarget } = await import('./target');
    return new GeneratedTarget(target);
  },
} satisfies IssuingTargetPlugin<z.infer<typeof schema>>;
