// What other layers may use of the rollout plugin besides its index: workloads and their rollouts.
export { Rollouts, describeWorkload, restartAnnotationKey, rolloutFailed, secretUsers, unlistedNote } from './rollouts';
export { createCoalesceActivities, type CoalesceActivities } from './coalesce';
export { awaitRolledOut, type RolloutProgress } from './wait';
