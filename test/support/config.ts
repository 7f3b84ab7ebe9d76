// Helpers for tests of config parsing.
import { parseConfig } from '../../src/config/load';

/** The message parseConfig rejects the text with (as if read from rotator.yaml); throws if it accepts it. */
export function configError(text: string, env: Record<string, string>): string {
  try {
    parseConfig(text, env, 'rotator.yaml');
  } catch (err) {
    return (err as Error).message;
  }
  throw new Error('expected the config to be rejected');
}
