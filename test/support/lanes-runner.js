// The jest runner of every project (jest.config.js): all test files on `maxWorkers` worker processes, at most one at a
// time from the `serial` project (the files that SIGKILL worker processes and wait on lease cycles, whose freshly
// spawned workers must start within their waits), the other workers running the unit and server files alongside.
// The serial files start first, in a lane of their own, so the long tail of a run is short files. When a run selects
// one file, or --runInBand, jest runs the files in band and this is jest's own runner.
//
// The files of ALONE (below) run last, one at a time, with no other test file beside them (npm test's lint may still
// run, at the lowest CPU priority: scripts/test.sh).
//
// ROTATOR_TEST_SERIAL_LANES: how many serial files may run at once (default 1); 0 runs them one at a time after
// every other file has finished, alone on the machine (slower; what npm test did before this runner).
//
// jest-runner's TestRunner runs one worker pool with no such limit, and jest runs the groups of different runners one
// after the other; so this runner keeps jest-runner's worker (testWorker.js) and its protocol, and only chooses which
// file goes next.
/* global process, console */
const path = require('node:path');
const { Worker } = require('jest-worker');
const { default: TestRunner, EmittingTestRunner } = require('jest-runner');

const HEAVY_PROJECT = 'serial';
const lanesRaw = process.env.ROTATOR_TEST_SERIAL_LANES;
const lanesSetting = lanesRaw === undefined || lanesRaw.trim() === '' ? 1 : Number(lanesRaw);
const HEAVY_AFTER = lanesSetting === 0;
const HEAVY_LANES = HEAVY_AFTER ? 1 : Number.isInteger(lanesSetting) && lanesSetting > 0 ? lanesSetting : 1;
// Serial files that run last, with no other file beside them: the lease keeper's kill harness, whose fresh worker must take
// over within the 17 s its 20 s lease has left after a kill; beside other files it sometimes did not.
const ALONE = ['lease-keeper-faults'];
const testWorkerPath = path.join(path.dirname(require.resolve('jest-runner')), 'testWorker.js');

const isAlone = (test) => ALONE.some((name) => test.path.endsWith(`${path.sep}test${path.sep}${name}.test.ts`));
const isHeavy = (test) => {
  const name = test.context.config.displayName;
  return (typeof name === 'string' ? name : name?.name) === HEAVY_PROJECT;
};

class LanesRunner extends EmittingTestRunner {
  #listeners = new Map();

  on(eventName, listener) {
    if (!this.#listeners.has(eventName)) this.#listeners.set(eventName, new Set());
    this.#listeners.get(eventName).add(listener);
    return () => this.#listeners.get(eventName).delete(listener);
  }

  async #emit(eventName, data) {
    await Promise.all([...(this.#listeners.get(eventName) ?? [])].map((listener) => listener(data)));
  }

  async runTests(tests, watcher, options) {
    if (options.serial) return this.#inBand(tests, watcher, options);
    const resolvers = new Map();
    for (const test of tests) {
      if (!resolvers.has(test.context.config.id)) {
        resolvers.set(test.context.config.id, {
          config: test.context.config,
          serializableModuleMap: test.context.moduleMap.toJSON(),
        });
      }
    }
    const workers = Math.max(1, this._globalConfig.maxWorkers);
    const worker = new Worker(testWorkerPath, {
      enableWorkerThreads: this._globalConfig.workerThreads,
      exposedMethods: ['worker'],
      forkOptions: { serialization: 'json', stdio: 'pipe' },
      idleMemoryLimit:
        typeof this._globalConfig.workerIdleMemoryLimit === 'number' ? this._globalConfig.workerIdleMemoryLimit : undefined,
      maxRetries: 3,
      numWorkers: workers,
      setupArgs: [{ serializableResolvers: [...resolvers.values()] }],
      workerGracefulExitTimeout: this._globalConfig.workerGracefulExitTimeout,
    });
    if (worker.getStdout()) worker.getStdout().pipe(process.stdout);
    if (worker.getStderr()) worker.getStderr().pipe(process.stderr);

    const alone = tests.filter(isAlone);
    const heavy = tests.filter((t) => isHeavy(t) && !isAlone(t));
    const light = tests.filter((t) => !isHeavy(t) && !isAlone(t));
    let heavyRunning = 0;
    let lightRunning = 0;
    let ended = null;
    /** Resolves when the next file ends. */
    const nextEnd = () => {
      if (!ended) {
        let resolve;
        const promise = new Promise((r) => (resolve = r));
        ended = { promise, resolve: () => ((ended = null), resolve()) };
      }
      return ended.promise;
    };
    const runOne = async (test) => {
      if (watcher.isInterrupted()) throw new Error('interrupted');
      await this.#emit('test-file-start', [test]);
      const promise = worker.worker({
        config: test.context.config,
        context: {
          ...this._context,
          changedFiles: this._context.changedFiles && [...this._context.changedFiles],
          sourcesRelatedToTestsInChangedFiles: this._context.sourcesRelatedToTestsInChangedFiles && [
            ...this._context.sourcesRelatedToTestsInChangedFiles,
          ],
        },
        globalConfig: this._globalConfig,
        path: test.path,
      });
      promise.UNSTABLE_onCustomMessage?.(([event, payload]) => this.#emit(event, payload));
      try {
        await this.#emit('test-file-success', [test, await promise]);
      } catch (error) {
        await this.#emit('test-file-failure', [test, error]);
      }
    };
    const run = async (test, heavyOne) => {
      if (heavyOne) heavyRunning++;
      else lightRunning++;
      try {
        await runOne(test);
      } finally {
        if (heavyOne) heavyRunning--;
        else lightRunning--;
        ended?.resolve();
      }
    };
    // Each lane takes a serial file when it may (fewer than HEAVY_LANES run; with HEAVY_AFTER, once no other file is
    // left), else the next other file; when only serial files are left and none may start, it waits for a file to end.
    const lane = async () => {
      for (;;) {
        const heavyMay = heavyRunning < HEAVY_LANES && (!HEAVY_AFTER || (light.length === 0 && lightRunning === 0));
        if (heavy.length > 0 && heavyMay) await run(heavy.shift(), true);
        else if (light.length > 0) await run(light.shift(), false);
        else if (heavy.length > 0) await nextEnd();
        else if (alone.length > 0 && heavyRunning === 0 && lightRunning === 0) await run(alone.shift(), true);
        else if (alone.length > 0) await nextEnd();
        else return;
      }
    };
    const interrupted = new Promise((_resolve, reject) => {
      watcher.on('change', (state) => {
        if (state.interrupted) reject(new Error('interrupted'));
      });
    });
    const cleanup = async () => {
      const { forceExited } = await worker.end();
      if (forceExited) console.error('A jest worker process failed to exit gracefully and was force exited.');
    };
    return Promise.race([Promise.all(Array.from({ length: workers }, lane)), interrupted]).then(cleanup, cleanup);
  }

  /** One file (or --runInBand): jest-runner's own in-band run, its events passed on. */
  async #inBand(tests, watcher, options) {
    const runner = new TestRunner(this._globalConfig, this._context, this._options);
    const unsubscribe = [...this.#listeners.keys()].map((eventName) =>
      runner.on(eventName, (data) => this.#emit(eventName, data)),
    );
    try {
      return await runner.runTests(tests, watcher, options);
    } finally {
      for (const u of unsubscribe) u();
    }
  }
}

module.exports = LanesRunner;
