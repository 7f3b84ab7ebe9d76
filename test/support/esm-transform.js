// Jest transform for the few ESM-only packages in node_modules (@kubernetes/client-node 1.x, as 2.x, and what it
// imports). Node requires them natively (20.19+; rotator runs on 24), but Jest's CommonJS sandbox cannot: esbuild
// (already here for tsx) rewrites their import/export to require/exports, nothing else.
const { transformSync } = require('esbuild');
const { createHash } = require('node:crypto');
const { version } = require('esbuild/package.json');

const TARGET = 'node24';

module.exports = {
  process(source, filename) {
    const { code, map } = transformSync(source, {
      format: 'cjs',
      loader: 'js',
      target: TARGET,
      sourcefile: filename,
      sourcemap: 'external',
    });
    return { code, map };
  },
  getCacheKey(source, filename) {
    return createHash('sha256')
      .update(version)
      .update('\0')
      .update(TARGET)
      .update('\0')
      .update(filename)
      .update('\0')
      .update(source)
      .digest('hex');
  },
};
