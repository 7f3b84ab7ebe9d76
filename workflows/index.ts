// The workflows a rotator worker registers; their names, inputs and queries are in ./definitions.
export { rotateSecret } from './rotate-secret';
