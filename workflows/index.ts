// The workflows a rotator worker registers; their names, inputs and queries are in ./definitions and
// ./lifecycle-definitions.
export { rotateSecret } from './rotate-secret';
export { scheduledRotation } from './scheduled-rotation';
export { sweep } from './sweep';
export { keepLease } from './lease-keeper';
export { triggerRotation } from './trigger';
export { rotateKey } from './rotate-key';
export { coalesceRollout } from './rollout-coordinator';
export { massRotation } from './mass-rotation';
export { writeBudget } from './write-budget';
