// Every target plugin, by the `type:` a target block names. Adding a target: its folder here, one line in this map.
import type { AnyTargetPlugin, TargetPlugin } from '../plugin';
import { awsIam } from './aws-iam';
import { generated } from './generated';
import { mongodb } from './mongodb';
import { postgresql } from './postgresql';
import { redis } from './redis';

export const TARGETS = { postgresql, redis, mongodb, 'aws-iam': awsIam, generated } satisfies Record<string, AnyTargetPlugin>;

export type TargetType = keyof typeof TARGETS;
export type TargetSchema = (typeof TARGETS)[TargetType]['schema'];

/** The plugin for a target block; typed loosely because TypeScript cannot tie a map entry to its own config type. */
export function targetPlugin<C extends { type: string; connection?: string }>(config: { type: string }): TargetPlugin<C> {
  return TARGETS[config.type as TargetType] as unknown as TargetPlugin<C>;
}
