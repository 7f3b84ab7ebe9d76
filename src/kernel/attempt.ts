// An activity attempt that its step already gave up on must not go on to change anything. `guarded` ends a local
// step at its retry budget by racing the attempt, which it cannot cancel: a request to a slow store was still in
// flight, and when its answer came (after the rotation's compensation had run) the attempt went on and wrote — a
// pending value left behind, a login holding a password no version has, a version published after the rollback
// (fault matrix, OpenBao latency>timeout cells). Each attempt runs in a scope `guarded` marks ended when it returns;
// the rotation's stores and targets, and the writes of a store's own methods, check it first.
import { AsyncLocalStorage } from 'node:async_hooks';
import { RotatorError } from './errors';

interface Attempt {
  ended: boolean;
  step: string;
}

const scope = new AsyncLocalStorage<Attempt>();

/** Runs `fn` as one attempt of `step`; `end()` marks it ended (its step has answered, whatever `fn` still does). */
export function asAttempt<R>(step: string, fn: () => Promise<R>): { result: Promise<R>; end(): void } {
  const attempt: Attempt = { ended: false, step };
  return { result: scope.run(attempt, fn), end: () => void (attempt.ended = true) };
}

/** Throws, naming `what` and the step, when the attempt this runs in has ended; nothing outside an attempt. */
export function stillWanted(what: string): void {
  const attempt = scope.getStore();
  if (attempt?.ended) {
    throw new RotatorError('TRANSIENT', `${what} not sent: ${attempt.step} had already ended (past its retry budget)`);
  }
}

/** Methods that release what an object holds: always allowed, so an ended attempt still cleans up. */
const RELEASE = new Set<string | symbol>(['close', 'end', 'quit', 'destroy']);

/** `target` whose every method first checks that the attempt calling it has not ended. */
export function liveOnly<T extends object>(target: T, what: string): T {
  return new Proxy(target, {
    get(obj, prop) {
      // Read on the object itself, not the proxy: a getter over a private field needs its own `this`.
      const value = Reflect.get(obj, prop) as unknown;
      if (typeof value !== 'function' || RELEASE.has(prop)) return value;
      return (...args: unknown[]) => {
        stillWanted(`${what} ${String(prop)}`);
        return (value as (...a: unknown[]) => unknown).apply(obj, args);
      };
    },
  });
}
