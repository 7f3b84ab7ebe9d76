// What `rotator validate` and `rotator plan` warn about in a config that loads: it works, but not as it reads.
import { keeperStartWarning, leaseWarnings } from './lifecycle';
import { graceWarnings } from './readers';
import { dynamicSecrets, READER_LEASED_NOTE, readerLeased, type Config } from './schema';

export interface ConfigWarning {
  secret: string;
  message: string;
}

/** Per secret: a grace period allowed shorter than its readers' caches, and a lease renewed more often than asked. */
export function configWarnings(config: Config, only?: string): ConfigWarning[] {
  const kept = dynamicSecrets(config);
  const lastKept = kept.at(-1);
  const paced = lastKept === undefined ? null : keeperStartWarning(config.keepers, kept.length);
  return Object.entries(config.secrets)
    .filter(([name]) => only === undefined || name === only)
    .flatMap(([name, secret]) =>
      [
        ...graceWarnings(secret),
        ...(secret.lease ? leaseWarnings(secret.lease) : []),
        ...(name === lastKept && paced ? [paced] : []),
      ].map((message) => ({ secret: name, message })),
    );
}

/** Per secret leased by its readers (type: dynamic without publish:): that rotator's worker does not keep it. */
export function configNotes(config: Config): ConfigWarning[] {
  return Object.entries(config.secrets)
    .filter(([, secret]) => readerLeased(secret))
    .map(([name]) => ({ secret: name, message: READER_LEASED_NOTE }));
}
