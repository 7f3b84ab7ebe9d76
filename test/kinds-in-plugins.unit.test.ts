// Issue 21, must-show 1: no store, target or consumer type name is branched on outside its plugin
// (activities/<seam>/<type>/) and the maps. The names come from the maps (and each store's L5 spelling), not a
// hand list; each is matched as a quoted literal in a branching position or as a mapping's value (`restart:
// 'rollout'`), so prose and common words (file, env, log) in comments do not trip it. The scan covers src/,
// workflows/, workers/ and activities/ outside the plugin folders (the maps' keys are property names, not values).
// The command is printed, for anyone to run by hand.
import { execFileSync } from 'node:child_process';
import { CONSUMERS } from '../activities/consumers';
import type { AnyStorePlugin } from '../activities/plugin';
import { STORES } from '../activities/stores';
import { KEY_TARGETS, TARGETS } from '../activities/targets';

const names = [
  ...Object.keys(STORES),
  ...Object.keys(TARGETS),
  ...Object.keys(KEY_TARGETS),
  ...Object.keys(CONSUMERS),
  ...Object.values(STORES as Record<string, AnyStorePlugin>).flatMap((p) => (p.l5 ? [p.l5.provider] : [])),
];
const quoted = `['"\`](${[...new Set(names)].join('|')})['"\`]`;
/**
 * `type === 'redis'`, `provider: 'vault'`, `restart: 'rollout'`, `['reconnect', 'alert']`, `'rollout' !== x`,
 * `case 'env':`, `z.literal('file')`, `z.enum(['postgresql', …])`. (POSIX classes: git grep -E has no `\w` in `[]`.)
 */
const BRANCHING = [
  `\\b(type|engine|provider)\\s*(===|!==|==|!=)\\s*${quoted}`,
  `[]_[:alnum:]'"\`]\\s*:\\s*${quoted}`,
  `\\[\\s*${quoted}\\s*,|,\\s*${quoted}\\s*[],]`,
  `${quoted}\\s*(===|!==)`,
  `\\bcase\\s+${quoted}\\s*:`,
  `\\b(literal|enum)\\(\\[?[^)]*${quoted}`,
].join('|');

/**
 * Left out: other namespaces that share a word with a kind: the listener's trigger sources (webhook, gcp-pubsub,
 * azure-event-grid, sqs), the local stack's servers (temporal, vault, postgres) and the audit log's destinations
 * (stdout, file); and tests, which configure kinds on purpose.
 */
const args = [
  'grep',
  '-nE',
  BRANCHING,
  '--',
  'src',
  'workflows',
  'workers',
  'activities',
  ':(exclude)*.test.ts',
  ':(exclude)activities/stores/*/*',
  ':(exclude)activities/targets/*/*',
  ':(exclude)activities/consumers/*/*',
  ':(exclude)src/listener/http-sources.ts',
  ':(exclude)src/config/trigger.ts',
  ':(exclude)src/stack',
  ':(exclude)src/demo',
  ':(exclude)src/cli/commands/stack.ts',
  ':(exclude)src/audit/destination.ts',
];

/** `import('../webhook/preflight')` in a plugin: eslint's import rules do not see dynamic imports, so this does. */
const intoOtherPlugin = [
  'grep',
  '-nE',
  `import\\(\\s*['"\`]\\.\\./[^.'"\`]`,
  '--',
  'activities/stores/*/*',
  'activities/targets/*/*',
  'activities/consumers/*/*',
];

function gitGrep(argv: string[]): string[] {
  try {
    return execFileSync('git', argv, { cwd: `${__dirname}/..`, encoding: 'utf8' })
      .split('\n')
      .filter(Boolean);
  } catch (err) {
    // git grep exits 1 when nothing matches.
    if ((err as { status?: number }).status !== 1) throw err;
    return [];
  }
}

describe('a kind lives in its plugin', () => {
  it('no type name is branched on or mapped to in src/, workflows/, workers/ or activities/ outside the plugins', () => {
    const command = `git ${args.map((a) => (/^[\w:/.*-]+$/.test(a) ? a : `'${a.replace(/'/g, `'\\''`)}'`)).join(' ')}`;
    if (process.env.SHOW_KIND_SCAN) console.log(command);
    expect({ command, offenders: gitGrep(args) }).toEqual({ command, offenders: [] });
  });

  it('no plugin imports another plugin’s internals dynamically (only its index, statically)', () => {
    expect(gitGrep(intoOtherPlugin)).toEqual([]);
  });
});
