// The errors every store's rollback raises, worded once.
import { RotatorError } from '../../src/kernel/errors';

/** Someone wrote after this rotation published: rolling back would destroy their value. */
export function movedSincePublish(path: string, current: string | number | null, action = 'rolling back over it'): RotatorError {
  return new RotatorError(
    'CONFLICT',
    `${path} moved to version ${current ?? '(none)'} after this rotation published; not ${action}`,
  );
}

export function versionGone(path: string, version: string): RotatorError {
  return new RotatorError('NOT_FOUND', `version ${version} of ${path} is gone; cannot roll back`);
}
