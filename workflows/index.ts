// The workflows a rotator worker registers.
export { rotateSecret, statusQuery } from './rotate-secret';
