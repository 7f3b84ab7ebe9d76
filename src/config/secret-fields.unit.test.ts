// Which config fields hold secrets is declared by each plugin; the loader's scrubber reads the declarations.
import type { z } from 'zod';
import { CONSUMERS } from '../../activities/consumers';
import { STORES } from '../../activities/stores';
import { TARGETS } from '../../activities/targets';
import { parseConfig, secretField, sensitiveValues } from './load';
import { declaredSecret, type PluginDeclarations } from './secret-fields';

/** A store of the kind issue 21 expects (SOPS): its `age_identity` is a private key, named like nothing secret. */
const withSops: PluginDeclarations = {
  stores: { ...STORES, sops: { schema: null, secretFields: ['age_identity'] } },
  targets: TARGETS,
  consumers: CONSUMERS,
};
const sopsDoc = { providers: { sops: { type: 'sops', age_identity: 'AGE-SECRET-KEY-1QQQQQQQQQQ', file: 'x.yaml' } } };

describe('secret fields declared by their plugins', () => {
  it('a field a plugin declares secret is secret, whatever it is called (age_identity)', () => {
    expect(declaredSecret(sopsDoc, ['providers', 'sops', 'age_identity'], withSops)).toBe(true);
    expect(declaredSecret(sopsDoc, ['providers', 'sops', 'file'], withSops)).toBe(false);
    expect(secretField(['providers', 'sops', 'age_identity'], sopsDoc, withSops)).toBe(true);
    // Not by its name: without the declaration it would be shown.
    expect(secretField(['providers', 'sops', 'age_identity'])).toBe(false);
  });

  it('rotator’s own fields are judged by their names, as before (a safety net under the declarations)', () => {
    expect(declaredSecret({}, ['triggers', 'sources', 'x', 'token'])).toBeNull();
    expect(secretField(['triggers', 'sources', 'x', 'token'], {})).toBe(true);
    expect(secretField(['secrets', 'orders', 'key'], {})).toBe(false);
  });

  it('an env store’s defaults are declared: a default named like nothing secret is scrubbed', () => {
    const dsn = 'postgres://orders:not-named-like-a-secret@db/orders';
    const config = parseConfig(
      `
providers:
  local: { type: env, defaults: { ORDERS_DSN: "${dsn}" } }
secrets:
  orders:
    provider: local
    path: ORDERS_DSN
`,
      {},
    );
    expect(sensitiveValues(config)).toContain(dsn);
  });

  it('names only fields its plugin’s schema has', () => {
    const shapeOf = (schema: unknown): Record<string, unknown> | undefined => {
      let s = schema as {
        def?: { type: string; innerType?: unknown; in?: unknown; shape?: Record<string, unknown>; valueType?: unknown };
      };
      while (s?.def && ['optional', 'default', 'nullable', 'pipe', 'prefault'].includes(s.def.type))
        s = (s.def.innerType ?? s.def.in) as typeof s;
      return s?.def?.type === 'object' ? s.def.shape : s?.def?.type === 'record' ? { '*': s.def.valueType } : undefined;
    };
    const plugins = [...Object.entries(STORES), ...Object.entries(TARGETS), ...Object.entries(CONSUMERS)];
    let checked = 0;
    for (const [type, plugin] of plugins) {
      for (const field of ('secretFields' in plugin ? plugin.secretFields : []) as string[]) {
        let node: unknown = (plugin.schema as z.ZodType) ?? null;
        for (const seg of field.split('.')) node = shapeOf(node)?.[seg];
        expect({ type, field, found: node !== undefined }).toEqual({ type, field, found: true });
        checked++;
      }
    }
    expect(checked).toBe(8);
  });
});
