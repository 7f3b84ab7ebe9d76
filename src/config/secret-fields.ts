// Which fields of a config hold secrets: each plugin declares its own (`secretFields`), and this module finds the
// plugin block a field is in. load.ts's scrubber and literal-secrets.ts read it; neither knows any plugin's fields.
import { CONSUMERS } from '../../activities/consumers';
import type { DeclaresSecrets } from '../../activities/plugin';
import { STORES } from '../../activities/stores';
import { TARGETS } from '../../activities/targets';
import { ON_ROTATION_ACTIONS } from './l5';

/** A plugin as far as this module reads it. */
type Declaring = DeclaresSecrets & { readonly schema: unknown };

/** The plugin maps whose declarations are read: the real ones, or others in a test. */
export interface PluginDeclarations {
  stores: Readonly<Record<string, Declaring>>;
  targets: Readonly<Record<string, Declaring>>;
  consumers: Readonly<Record<string, Declaring>>;
}

export const PLUGIN_DECLARATIONS: PluginDeclarations = { stores: STORES, targets: TARGETS, consumers: CONSUMERS };

type Mapping = Record<string, unknown>;
const isMapping = (v: unknown): v is Mapping => !!v && typeof v === 'object' && !Array.isArray(v);

const at = (root: unknown, path: ReadonlyArray<string>): unknown =>
  path.reduce<unknown>((node, seg) => (isMapping(node) || Array.isArray(node) ? (node as Mapping)[seg] : undefined), root);

/** The plugin whose block holds the field at `path` in `root`, and the field's path inside that block. */
function pluginBlock(
  root: unknown,
  path: ReadonlyArray<string>,
  maps: PluginDeclarations,
): { plugin: DeclaresSecrets; inside: string[] } | null {
  const typed = (map: Readonly<Record<string, Declaring>>, blockPath: string[], type?: unknown) => {
    const t = type ?? at(root, [...blockPath, 'type']);
    return typeof t === 'string' && Object.hasOwn(map, t) ? { plugin: map[t]!, inside: path.slice(blockPath.length) } : null;
  };
  const [top, name, section, index] = path;
  if (top === 'providers' && name !== undefined) return typed(maps.stores, ['providers', name]);
  if (top !== 'secrets' || name === undefined) return null;
  if (section === 'target') return typed(maps.targets, ['secrets', name, 'target']);
  if (section === 'consumers' && index !== undefined) return typed(maps.consumers, ['secrets', name, 'consumers', index]);
  // The L5 spec's `rotation.on_rotation` is a consumer block whose kind its `action` names (each consumer's l5Action).
  if (section === 'rotation' && index === 'on_rotation') {
    const action = at(root, ['secrets', name, 'rotation', 'on_rotation', 'action']);
    const type =
      typeof action === 'string' && Object.hasOwn(ON_ROTATION_ACTIONS, action) ? ON_ROTATION_ACTIONS[action] : undefined;
    const plugin = type ? maps.consumers[type] : undefined;
    return plugin ? { plugin, inside: path.slice(4) } : null;
  }
  return null;
}

/** Whether a declared pattern (`auth.secret_id`, `defaults.*`) names `inside`, or a field above it. */
const matches = (pattern: string, inside: ReadonlyArray<string>): boolean => {
  const segs = pattern.split('.');
  return segs.length <= inside.length && segs.every((s, i) => s === '*' || s === inside[i]);
};

/**
 * Whether the field at `path` is declared secret by the plugin whose block holds it; null when no plugin block holds
 * it (a field of rotator's own config, or a block of a type no map knows).
 */
export function declaredSecret(
  root: unknown,
  path: ReadonlyArray<PropertyKey>,
  maps: PluginDeclarations = PLUGIN_DECLARATIONS,
): boolean | null {
  const named = path.map(String);
  const block = pluginBlock(root, named, maps);
  if (!block) return null;
  return (block.plugin.secretFields ?? []).some((p) => matches(p, block.inside));
}
