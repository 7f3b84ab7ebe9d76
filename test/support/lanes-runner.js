// The jest runner of every project (jest.config.js): all test files on `maxWorkers` worker processes, at most
// HEAVY_LANES of them at a time from the `serial` project (the files that SIGKILL worker processes and wait on lease
// cycles, whose freshly spawned workers must start within their waits), the other workers running the unit and
// server files alongside. The serial files start first, in one lane of their own, so the long tail of a run is
// short files; when a run selects one file, or --runInBand, jest runs the files in band and this is jest's own runner.
//
// jest-runner's TestRunner runs one worker pool with no such limit, and jest runs the groups of different runners one
// after the other; so this runner keeps jest-runner's worker (testWorker.js) and its protocol, and only chooses which
// file goes next.
/* global process, console */
const path = require('node:path');
const { Worker } = require('jest-worker');
const { default: TestRunner, EmittingTestRunner } = require('jest-runner');

const HEAVY_PROJECT = 'serial';
const HEAVY_LANES = Math.max(1, Number(process.env.ROTATOR_TEST_HEAVY_LANES) || 1);
const testWorkerPath = path.join(path.dirname(require.resolve('jest-runner')), 'testWorker.js');

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

    const heavy = tests.filter(isHeavy);
    const light = tests.filter((t) => !isHeavy(t));
    let heavyRunning = 0;
    let heavyFreed = null;
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
    // Each lane takes a serial file when fewer than HEAVY_LANES run, else the next other file; with only serial
    // files left and none free to start, it waits until one ends.
    const lane = async () => {
      for (;;) {
        if (heavy.length > 0 && heavyRunning < HEAVY_LANES) {
          heavyRunning++;
          try {
            await runOne(heavy.shift());
          } finally {
            heavyRunning--;
            heavyFreed?.resolve();
          }
        } else if (light.length > 0) {
          await runOne(light.shift());
        } else if (heavy.length > 0) {
          if (!heavyFreed) {
            let resolve;
            const freed = new Promise((r) => (resolve = r));
            heavyFreed = { promise: freed, resolve: () => ((heavyFreed = null), resolve()) };
          }
          await heavyFreed.promise;
        } else {
          return;
        }
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
