// Records which phase a workflow is in and how long each took, into the status object its query returns.
export interface PhaseTimings<P extends string> {
  phase: P | 'done';
  phases: Array<{ name: P; startedAt: number; endedAt: number | null; durationMs: number | null; failed?: boolean }>;
}

/**
 * Runs `body` as phase `name` of `status`: the phase is current while it runs and keeps its timing afterwards, and
 * whether it failed (threw), so every view marks it the same.
 */
export async function inPhase<P extends string, T>(status: PhaseTimings<P>, name: P, body: () => Promise<T>): Promise<T> {
  const record = {
    name,
    startedAt: Date.now(),
    endedAt: null as number | null,
    durationMs: null as number | null,
    failed: false,
  };
  status.phase = name;
  status.phases.push(record);
  try {
    return await body();
  } catch (err) {
    record.failed = true;
    throw err;
  } finally {
    record.endedAt = Date.now();
    record.durationMs = record.endedAt - record.startedAt;
  }
}

/** The last phase that ran, leaving out `except` (e.g. the rollback that followed the failure). */
export function lastPhase<P extends string>(status: PhaseTimings<P>, except: P, fallback: P): P {
  return status.phases.filter((p) => p.name !== except).at(-1)?.name ?? fallback;
}
