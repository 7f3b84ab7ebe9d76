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
