// The runner of the `serial` jest project (jest.config.js): jest runs each runner's files as a group, and a runner
// that says isSerial runs its group one file at a time, in the main process, while no other group runs.
const TestRunner = require('jest-runner').default;

module.exports = class SerialRunner extends TestRunner {
  isSerial = true;
};
