// Issue 21, must-show 1: no store, target or consumer type name is branched on outside its plugin
// (activities/<seam>/<type>/) and the maps. The names come from the maps (and each store's L5 spelling), not a
// hand list; each is matched as a quoted literal in a branching position, so prose and common words (file, env,
// log) in comments do not trip it. The command is printed, for anyone to run by hand.
import { execFileSync } from 'node:child_process';
import { CONSUMERS } from '../activities/consumers';
import type { AnyStorePlugin } from '../activities/plugin';
import { STORES } from '../activities/stores';
import { TARGETS } from '../activities/targets';

const names = [
  ...Object.keys(STORES),
  ...Object.keys(TARGETS),
  ...Object.keys(CONSUMERS),
  ...Object.values(STORES as Record<string, AnyStorePlugin>).flatMap((p) => (p.l5 ? [p.l5.provider] : [])),
];
const quoted = `['"\`](${[...new Set(names)].join('|')})['"\`]`;
/** `type === 'redis'`, `provider: 'vault'`, `'rollout' !== x`, `case 'env':`, `z.literal('file')`, `z.enum(['postgresql', …])`. */
const BRANCHING = [
  `\\b(type|engine|provider)\\s*(===|!==|==|!=|:)\\s*${quoted}`,
  `${quoted}\\s*(===|!==)`,
  `\\bcase\\s+${quoted}\\s*:`,
  `\\b(literal|enum)\\(\\[?[^)]*${quoted}`,
].join('|');

/**
 * Left out: the listener's trigger sources, whose kinds (webhook, gcp-pubsub, azure-event-grid, sqs) are another
 * namespace that shares one word with a consumer; and tests, which configure kinds on purpose.
 */
const args = [
  'grep',
  '-nE',
  BRANCHING,
  '--',
  'src',
  'workflows',
  'workers',
  ':(exclude)*.test.ts',
  ':(exclude)src/listener/http-sources.ts',
  ':(exclude)src/config/trigger.ts',
];

describe('a kind lives in its plugin', () => {
  it('no type name is branched on in src/, workflows/ or workers/', () => {
    const command = `git ${args.map((a) => (/^[\w:/.*-]+$/.test(a) ? a : `'${a.replace(/'/g, `'\\''`)}'`)).join(' ')}`;
    let out = '';
    try {
      out = execFileSync('git', args, { cwd: `${__dirname}/..`, encoding: 'utf8' });
    } catch (err) {
      // git grep exits 1 when nothing matches.
      if ((err as { status?: number }).status !== 1) throw err;
    }
    if (process.env.SHOW_KIND_SCAN) console.log(command);
    expect({ command, offenders: out.split('\n').filter(Boolean) }).toEqual({ command, offenders: [] });
  });
});
