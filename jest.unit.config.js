/**
 * `npm run test:unit`: the `unit` project of jest.config.js alone. A config of its own rather than `--selectProjects
 * unit`, which would swallow the file names and options given after it (`npm run test:unit -- test/uri`).
 */
const { projects, ...options } = require('./jest.config.js');

module.exports = { ...options, ...projects.find((project) => project.displayName === 'unit') };
