// bin/rotator runs the compiled JavaScript in dist/, which bootstrap builds (npm run build): so this lives in the
// server project, after the bootstrap, although it starts no server itself.
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';

const ROOT = resolve(__dirname, '..');

describe('the compiled CLI', () => {
  it('runs the compiled CLI from bin/rotator: help, and validate on the example config', () => {
    const help = spawnSync(join(ROOT, 'bin/rotator'), ['--help'], { encoding: 'utf8' });
    expect(help.status).toBe(0);
    for (const command of ['validate', 'rotate', 'status', 'list', 'history', 'keygen', 'worker'])
      expect(help.stdout).toContain(command);
    const validate = spawnSync(join(ROOT, 'bin/rotator'), ['validate', join(ROOT, 'examples/rotator.yaml')], {
      encoding: 'utf8',
      env: { ...process.env, VAULT_TOKEN: 'dev-token' },
    });
    expect(validate.stderr).toBe('');
    expect(validate.status).toBe(0);
    expect(validate.stdout).toContain('ok (2 secrets, 1 rotatable)');
  });

  it('runs on the Node that .node-version pins, whichever node is first on PATH', () => {
    const pinned = readFileSync(join(ROOT, '.node-version'), 'utf8').trim();
    const dir = mkdtempSync(join(tmpdir(), 'rotator-node-'));
    try {
      // Preloaded into whatever node bin/rotator starts: says which one it is.
      const probe = join(dir, 'probe.js');
      writeFileSync(probe, "process.stderr.write('node ' + process.version + '\\n');\n");
      // The machine's own directories only: /usr/bin/node is whatever the distribution ships (here Node 20).
      const help = spawnSync(join(ROOT, 'bin/rotator'), ['--help'], {
        encoding: 'utf8',
        env: { PATH: '/usr/local/bin:/usr/bin:/bin', NODE_OPTIONS: `--require=${probe}` },
      });
      expect({ status: help.status, stderr: help.stderr }).toEqual({ status: 0, stderr: `node v${pinned}\n` });
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
