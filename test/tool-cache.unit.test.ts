// The tool cache of scripts/tool-cache.sh (kube-apiserver, FerretDB and the Go binaries to come): a machine that lacks
// a tool's version builds it once into the cache outside the clone; every clone after that links it, building nothing.
// A stand-in tool (a file holding its version, "built" by echo) instead of a Go build, so this runs in a second.
import { spawnSync } from 'node:child_process';
import { lstatSync, mkdtempSync, readFileSync, readlinkSync, rmSync, writeFileSync, mkdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';

const SCRIPT = resolve(__dirname, '../scripts/tool-cache.sh');
let dir: string;
beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'rotator-tool-cache-'));
});
afterEach(() => rmSync(dir, { recursive: true, force: true }));

/** Runs tool_ensure for tool `demo` at `version` in the clone at `clone`; the cache is `<dir>/cache`. */
function ensure(clone: string, version: string): { out: string; code: number | null } {
  const script = `
    source ${JSON.stringify(SCRIPT)}
    is_version() { [[ -f "$1" && "$(cat "$1")" == "${version}" ]]; }
    build() { echo built >>"${dir}/builds"; echo "${version}" >"$1"; }
    tool_ensure demo "${version}" "${clone}/.tools/bin/demo" is_version build`;
  const r = spawnSync('bash', ['-c', script], {
    encoding: 'utf8',
    env: { ...process.env, ROTATOR_TOOLS_CACHE: join(dir, 'cache') },
  });
  return { out: (r.stdout + r.stderr).trim(), code: r.status };
}
const builds = () => readFileSync(join(dir, 'builds'), 'utf8').split('\n').filter(Boolean).length;

describe('the tool cache', () => {
  it('builds a version the machine lacks once, and links it into every clone after', () => {
    const first = ensure(join(dir, 'clone-a'), 'v1.0.0');
    expect(first.code).toBe(0);
    expect(first.out).toMatch(/^demo v1\.0\.0 built in \d+ s$/);
    const second = ensure(join(dir, 'clone-b'), 'v1.0.0');
    expect(second).toEqual({ out: 'demo v1.0.0 ok', code: 0 });
    expect(builds()).toBe(1);
    for (const clone of ['clone-a', 'clone-b']) {
      const link = join(dir, clone, '.tools/bin/demo');
      expect(lstatSync(link).isSymbolicLink()).toBe(true);
      expect(readlinkSync(link)).toBe(join(dir, 'cache/demo/v1.0.0/demo'));
    }
  });

  it('builds a new version beside the old one, keyed on it', () => {
    ensure(join(dir, 'clone-a'), 'v1.0.0');
    expect(ensure(join(dir, 'clone-a'), 'v2.0.0').out).toMatch(/^demo v2\.0\.0 built/);
    expect(ensure(join(dir, 'clone-b'), 'v1.0.0').out).toBe('demo v1.0.0 ok');
    expect(builds()).toBe(2);
  });

  it('copies a binary a clone built before the cache existed, instead of building it', () => {
    const clone = join(dir, 'old-clone');
    mkdirSync(join(clone, '.tools/bin'), { recursive: true });
    writeFileSync(join(clone, '.tools/bin/demo'), 'v1.0.0\n');
    expect(ensure(clone, 'v1.0.0').out).toBe(`demo v1.0.0 copied into ${join(dir, 'cache/demo/v1.0.0')}`);
    expect(ensure(join(dir, 'clone-b'), 'v1.0.0').out).toBe('demo v1.0.0 ok');
    expect(() => builds()).toThrow(/ENOENT/);
  });
});
