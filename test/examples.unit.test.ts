// Every config in examples/ validates offline through the real CLI, is clean (no literal secret, no grace period
// shorter than its readers' caches), says when to choose it, and together they cover every store, target, strategy
// and the rollout and webhook consumers. test/examples.test.ts rotates the ones the local stack can serve.
import * as fs from 'node:fs';
import * as path from 'node:path';
import { STORES } from '../activities/stores';
import { TARGETS, targetPlugin } from '../activities/targets';
import { STRATEGIES } from '../src/config/fields';
import { parseConfig } from '../src/config/load';
import { strategyOf } from '../src/config/schema';
import { cli } from './support/cli';

const ROOT = path.resolve(__dirname, '..');

/** Every rotator config under examples/ (the Kubernetes RBAC manifests in examples/kubernetes/ are not configs). */
export function exampleConfigs(): string[] {
  const walk = (dir: string): string[] =>
    fs.readdirSync(dir, { withFileTypes: true }).flatMap((e) => {
      const p = path.join(dir, e.name);
      if (e.isDirectory()) return e.name === 'kubernetes' || e.name === 'reader-app' ? [] : walk(p);
      return e.name.endsWith('.yaml') ? [path.relative(ROOT, p)] : [];
    });
  return walk(path.join(ROOT, 'examples')).sort();
}

/** Placeholders for every ${VAR} without a default an example reads: a URL or a long-enough value, never a secret. */
function placeholderEnv(text: string): Record<string, string> {
  const names = [...text.matchAll(/\$\{([A-Za-z_][A-Za-z0-9_]*)\}/g)].map((m) => m[1]);
  return Object.fromEntries(
    names.map((n) => [n, /ADDR|URL|ENDPOINT/.test(n) ? 'http://127.0.0.1:1' : `placeholder-${n.toLowerCase()}-value`]),
  );
}

const examples = exampleConfigs();

describe('examples/', () => {
  test('holds a config per kind', () => {
    expect(examples.length).toBeGreaterThanOrEqual(17);
  });

  test.each(examples)('%s validates offline through the CLI, clean', async (file) => {
    const run = await cli('--config', path.join(ROOT, file), '--json', 'validate', '--offline');
    expect(run.err).toBe('');
    const result = JSON.parse(run.out) as { ok: boolean; literalSecrets: unknown[]; warnings?: unknown[] };
    expect(result).toMatchObject({ ok: true, literalSecrets: [] });
    expect(result.warnings ?? []).toEqual([]);
    expect(run.code).toBe(0);
  });

  test.each(examples)('%s says when to choose it, and parses with its ${VAR}s set', (file) => {
    const text = fs.readFileSync(path.join(ROOT, file), 'utf8');
    expect(text.split('\n').slice(0, 6).join('\n')).toMatch(/^# .*\b[Cc]hoose\b/m);
    expect(() => parseConfig(text, placeholderEnv(text), file)).not.toThrow();
  });

  test('together cover every store, target and strategy, and the rollout and webhook consumers', () => {
    const stores = new Set<string>();
    const targets = new Set<string>();
    const strategies = new Set<string>();
    const consumers = new Set<string>();
    for (const file of examples) {
      const text = fs.readFileSync(path.join(ROOT, file), 'utf8');
      const config = parseConfig(text, placeholderEnv(text), file);
      for (const p of Object.values(config.providers)) stores.add(p.type);
      for (const s of Object.values(config.secrets)) {
        if (s.target) targets.add(s.target.type);
        if (s.rotation && s.target) strategies.add(strategyOf(targetPlugin(s.target), s.rotation) ?? '(none)');
        if (s.type === 'dynamic') strategies.add('dynamic');
        for (const c of s.consumers) consumers.add(c.type);
      }
      if (config.sweep) strategies.add('sweep');
      if (config.triggers) strategies.add('triggers');
      if (Object.values(config.secrets).some((s) => s.rotation?.schedule)) strategies.add('schedule');
    }
    expect([...stores].sort()).toEqual(Object.keys(STORES).sort());
    expect([...targets].sort()).toEqual(Object.keys(TARGETS).sort());
    expect([...strategies].sort()).toEqual([...STRATEGIES, 'dynamic', 'schedule', 'sweep', 'triggers'].sort());
    expect(consumers).toEqual(new Set(['rollout', 'webhook']));
  });
});
