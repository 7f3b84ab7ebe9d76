// Every target plugin, by the `type:` a target block names. Adding a target: its folder here, one line in this map.
import type { AnyKeyTargetPlugin, KeyTargetPlugin } from '../key-rotation';
import type { AnyTargetPlugin, TargetPlugin } from '../plugin';
import { awsIam } from './aws-iam';
import { generated } from './generated';
import { http } from './http';
import { mongodb } from './mongodb';
import { mysql } from './mysql';
import { pki } from './pki';
import { postgresql } from './postgresql';
import { redis } from './redis';
import { transit } from './transit';

export const TARGETS = {
  postgresql,
  redis,
  mongodb,
  mysql,
  'aws-iam': awsIam,
  http,
  pki,
  generated,
} satisfies Record<string, AnyTargetPlugin>;

export type TargetType = keyof typeof TARGETS;
export type TargetSchema = (typeof TARGETS)[TargetType]['schema'];

/** The plugin for a target block; typed loosely because TypeScript cannot tie a map entry to its own config type. */
export function targetPlugin<C extends { type: string; connection?: string }>(config: { type: string }): TargetPlugin<C> {
  return TARGETS[config.type as TargetType] as unknown as TargetPlugin<C>;
}

/** Encryption keys a rotation gives a new version and rewraps ciphertexts onto, by the `type:` a `key:` block names. */
export const KEY_TARGETS = { transit } satisfies Record<string, AnyKeyTargetPlugin>;

export type KeyTargetType = keyof typeof KEY_TARGETS;

/** The plugin for a `key:` block (typed loosely, as targetPlugin). */
export function keyTargetPlugin<C extends { type: string }>(config: { type: string }): KeyTargetPlugin<C> {
  const plugin = Object.hasOwn(KEY_TARGETS, config.type) ? KEY_TARGETS[config.type as KeyTargetType] : undefined;
  if (!plugin) throw new Error(`no key plugin of type ${JSON.stringify(config.type)}`);
  return plugin as unknown as KeyTargetPlugin<C>;
}
