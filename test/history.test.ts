// No secret value reaches Temporal: the full history of finished rotations holds references only.
import { temporal } from '@temporalio/proto';
import { followRotation, startRotation } from '../src/client/rotations';
import { ENCODING_ENCRYPTED } from '../src/client/codec/aes-gcm-codec';
import { adminQuery, readStore, startHarness, type Harness } from './support/harness';

/** The secret's base64 as it appears inside a longer base64 text, at each of the three byte alignments. */
function base64Forms(secret: string): string[] {
  return [0, 1, 2].map((pad) => {
    const b64 = Buffer.concat([Buffer.alloc(pad), Buffer.from(secret)]).toString('base64');
    return b64.slice(Math.ceil((pad * 4) / 3), -4);
  });
}

async function historyTexts(h: Harness, workflowId: string, runId: string): Promise<string[]> {
  const history = await h.client.workflow.getHandle(workflowId, runId).fetchHistory();
  const binary = Buffer.from(temporal.api.history.v1.History.encode(history).finish());
  return [
    binary.toString('latin1'),
    JSON.stringify(temporal.api.history.v1.History.toObject(history as temporal.api.history.v1.History, { bytes: String })),
  ];
}

function expectNoSecret(texts: string[], secrets: string[]): void {
  for (const secret of secrets) {
    expect(secret.length).toBeGreaterThanOrEqual(16);
    for (const text of texts) {
      expect(text.includes(secret)).toBe(false);
      for (const form of base64Forms(secret)) expect(text.includes(form)).toBe(false);
    }
  }
}

describe('workflow history', () => {
  it('holds neither the old nor the new password, even without the encryption codec', async () => {
    const h = await startHarness([{}, {}], { codec: false });
    try {
      const [ok, failing] = h.secrets;
      const runs: Array<{ workflowId: string; runId: string }> = [];
      for (let i = 0; i < 2; i++) {
        const { handle } = await startRotation(h.client, h.taskQueue, h.plan(ok.name));
        const { ok: done, status } = await followRotation(handle);
        expect(done).toBe(true);
        runs.push({ workflowId: handle.workflowId, runId: status.rotationId });
      }
      // A rotation that fails and rolls back carries errors in its history too (its new password was never
      // published, and is checked for only through the passwords that were).
      const { handle: first } = await startRotation(h.client, h.taskQueue, h.plan(failing.name));
      expect((await followRotation(first)).ok).toBe(true);
      await adminQuery(`create role ${failing.role}_b connection limit 0`);
      const { handle: bad } = await startRotation(h.client, h.taskQueue, h.plan(failing.name));
      const failed = await followRotation(bad);
      expect(failed.ok).toBe(false);
      runs.push({ workflowId: bad.workflowId, runId: failed.status.rotationId });

      const passwords: string[] = [];
      for (const [name, versions] of [
        [ok.name, 2],
        [failing.name, 1],
      ] as const) {
        for (let v = 1; v <= versions; v++) passwords.push(String((await readStore(`test/${name}`, String(v)))!.data.password));
      }
      const pg = (await import('./support/stack')).testStack().postgres!;
      passwords.push(pg.password);
      for (const run of runs) expectNoSecret(await historyTexts(h, run.workflowId, run.runId), passwords);
    } finally {
      await h.close();
    }
  });

  it("with the codec, every payload in history is encrypted but the SDK's own local-activity and patch bookkeeping", async () => {
    const h = await startHarness([{}]);
    try {
      const { handle } = await startRotation(h.client, h.taskQueue, h.plan(h.secrets[0].name));
      expect((await followRotation(handle)).ok).toBe(true);
      const history = await handle.fetchHistory();
      const encodings = new Set<string>();
      const bookkeeping: Array<Record<string, unknown>> = [];
      const patches: Array<Record<string, unknown>> = [];
      const searchAttributes: Array<[string, unknown]> = [];
      const visit = (node: unknown, path: string[]): void => {
        if (!node || typeof node !== 'object') return;
        const payload = node as { metadata?: Record<string, Uint8Array>; data?: Uint8Array };
        if (payload.metadata?.encoding && payload.data !== undefined) {
          // Temporal's core writes a local activity's marker `data` itself (sequence, attempt, type, times).
          if (path.includes('markerRecordedEventAttributes') && path.includes('data')) {
            bookkeeping.push(JSON.parse(Buffer.from(payload.data).toString()) as Record<string, unknown>);
          } else if (
            (path.includes('markerRecordedEventAttributes') && path.includes('patch-data')) ||
            path.includes('TemporalChangeVersion')
          ) {
            // ... and, for a patched() change in the workflow code, its id: in the marker and a search attribute.
            patches.push(JSON.parse(Buffer.from(payload.data).toString()) as Record<string, unknown>);
          } else if (path.includes('indexedFields') && path.at(-1)!.startsWith('Rotator')) {
            // rotator's own search attributes: the server must read them to index them; names, never values.
            searchAttributes.push([path.at(-1)!, JSON.parse(Buffer.from(payload.data).toString())]);
          } else {
            encodings.add(Buffer.from(payload.metadata.encoding).toString());
          }
        }
        for (const [k, v] of Object.entries(node)) if (v && typeof v === 'object') visit(v, [...path, k]);
      };
      visit(history, []);
      expect([...encodings]).toEqual([ENCODING_ENCRYPTED]);
      // One patch, asked at the start: it answers the ids asked mid-run before it (workflows/lib/patches.ts).
      expect(patches).toEqual([{ id: 'asked-at-start', deprecated: false }, ['asked-at-start']]);
      // Set at the start (outcome running) and the outcome upserted at the end: no value among them.
      expect(searchAttributes.map(([k, v]) => `${k}=${String(v)}`).sort()).toEqual(
        [
          'RotatorOutcome=running',
          'RotatorOutcome=succeeded',
          `RotatorSecret=${h.secrets[0].name}`,
          'RotatorStrategy=alternating-users',
          'RotatorTrigger=api',
        ].sort(),
      );
      expect(bookkeeping.length).toBeGreaterThan(0);
      for (const b of bookkeeping) {
        expect(Object.keys(b).sort()).toEqual([
          'activity_id',
          'activity_type',
          'attempt',
          'backoff',
          'complete_time',
          'original_schedule_time',
          'seq',
        ]);
      }
    } finally {
      await h.close();
    }
  });
});
