// Replay fixtures: workflow histories as protobufjs plain objects in JSON (longs, enums and bytes as strings).
// Not the SDK's historyFromJSON: with two copies of protobufjs 8 in node_modules (one under @temporalio/common, one
// under @temporalio/proto) its instanceof check fails; the generated class's own toObject/fromObject always agree.
import * as path from 'node:path';
import { temporal } from '@temporalio/proto';

export const FIXTURES = path.join(__dirname, 'fixtures');

type History = temporal.api.history.v1.IHistory;

export function historyToFixture(history: History): string {
  const message = temporal.api.history.v1.History.fromObject(history);
  const plain = temporal.api.history.v1.History.toObject(message, { longs: String, enums: String, bytes: String });
  return JSON.stringify(plain, null, 1) + '\n';
}

export function historyFromFixture(text: string): temporal.api.history.v1.History {
  return temporal.api.history.v1.History.fromObject(JSON.parse(text) as Record<string, unknown>);
}

/** A fixture's history as parsed JSON: the fields the marker checks read. */
export interface FixtureHistory {
  events?: Array<{
    eventType?: string;
    markerRecordedEventAttributes?: { markerName?: string; details?: Record<string, { payloads?: Array<{ data?: string }> }> };
  }>;
}

/** The patch ids whose markers a history (as a fixture's plain object) holds, each with the workflow task it is in. */
export function patchMarkers(history: FixtureHistory): Array<{ id: string; task: number }> {
  const found: Array<{ id: string; task: number }> = [];
  let task = 0;
  for (const e of history.events ?? []) {
    if (e.eventType === 'EVENT_TYPE_WORKFLOW_TASK_COMPLETED') task++;
    const marker = e.markerRecordedEventAttributes;
    if (marker?.markerName !== 'core_patch') continue;
    const data = marker.details?.['patch-data']?.payloads?.[0]?.data ?? '';
    found.push({ id: (JSON.parse(Buffer.from(data, 'base64').toString('utf8')) as { id: string }).id, task });
  }
  return found;
}

/**
 * The patch markers of a rotation that took asked-at-start found past its first workflow task: none should be. One
 * there is asked where it branches, where a replay may reach the ask a workflow task before its marker.
 */
export function markersPastFirstTask(history: FixtureHistory): string[] {
  const markers = patchMarkers(history);
  if (!markers.some((m) => m.id === 'asked-at-start')) return [];
  return markers.filter((m) => m.task > 1).map((m) => `${m.id} (workflow task ${m.task})`);
}
