// The audit sink on its own (no server needed): one JSON line per event with stable fields, a private append-only
// file, known secret values scrubbed from every string, and clear errors for a bad --audit.
import { mkdtempSync, readFileSync, statSync, writeFileSync, chmodSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseAuditDestination } from '../src/audit/destination';
import { openAuditSink } from '../src/audit/sink';
import { RotationEvents, type RotationEvent } from '../src/kernel/events';
import { RotatorError } from '../src/kernel/errors';

const base: RotationEvent = {
  kind: 'phase.failed',
  time: Date.UTC(2026, 11, 1, 12, 0, 0),
  secret: 'orders_db',
  workflowId: 'rotate/orders_db',
  rotationId: 'run-1',
  strategy: 'alternating-users',
  trigger: 'cli:alice',
  phase: 'verify',
  durationMs: 12,
  version: '2',
  previousVersion: '1',
  username: 'orders_b',
  previousUsername: 'orders_a',
  error: { code: 'VERIFY_FAILED', message: 'login refused' },
};

function thrown(fn: () => unknown): RotatorError {
  try {
    fn();
  } catch (err) {
    if (err instanceof RotatorError) return err;
    throw err;
  }
  throw new Error('expected a RotatorError, got success');
}

const dir = mkdtempSync(join(tmpdir(), 'rotator-audit-sink-'));
const lines = (file: string) =>
  readFileSync(file, 'utf8')
    .split('\n')
    .filter(Boolean)
    .map((l) => JSON.parse(l) as Record<string, unknown>);

describe('audit sink', () => {
  it('writes one line per event with every field named, null where it does not apply', () => {
    const file = join(dir, 'fields.jsonl');
    const sink = openAuditSink({ kind: 'file', path: file });
    const events = new RotationEvents();
    events.on(sink.listener);
    events.emit(base);
    events.emit({
      ...base,
      kind: 'rotation.ended',
      phase: undefined,
      durationMs: undefined,
      outcome: 'rolled-back',
      error: null,
    });
    sink.close();
    const [failed, ended] = lines(file);
    expect(failed).toEqual({
      type: 'rotator.audit',
      time: '2026-12-01T12:00:00.000Z',
      seq: null,
      kind: 'phase.failed',
      secret: 'orders_db',
      workflowId: 'rotate/orders_db',
      rotationId: 'run-1',
      strategy: 'alternating-users',
      phase: 'verify',
      outcome: null,
      trigger: 'cli:alice',
      actor: null,
      versions: { from: '1', to: '2' },
      logins: { from: 'orders_a', to: 'orders_b' },
      durationMs: 12,
      error: { code: 'VERIFY_FAILED', message: 'login refused' },
      detail: null,
    });
    expect(Object.keys(ended)).toEqual(Object.keys(failed));
    expect(ended).toMatchObject({ kind: 'rotation.ended', phase: null, durationMs: null, outcome: 'rolled-back', error: null });
  });

  it('creates the file 0600, appends to it, and narrows an existing file readable by others', () => {
    const file = join(dir, 'append.jsonl');
    const first = openAuditSink({ kind: 'file', path: file });
    first.listener(base);
    first.close();
    expect(statSync(file).mode & 0o777).toBe(0o600);
    const second = openAuditSink({ kind: 'file', path: file });
    second.listener({ ...base, kind: 'phase.completed', error: null });
    second.close();
    expect(lines(file).map((l) => l.kind)).toEqual(['phase.failed', 'phase.completed']);

    const shared = join(dir, 'shared.jsonl');
    writeFileSync(shared, '');
    chmodSync(shared, 0o644);
    openAuditSink({ kind: 'file', path: shared }).close();
    expect(statSync(shared).mode & 0o777).toBe(0o600);
  });

  it('scrubs a known secret value from every string, even one that got into an error message or a name', () => {
    const value = 'Sup3r-Secret-Passw0rd';
    const out: string[] = [];
    const sink = openAuditSink({ kind: 'stdout' }, { secrets: [value], stdout: { write: (l) => out.push(l) } });
    sink.listener({
      ...base,
      trigger: `cli:${value}`,
      error: { code: 'TRANSIENT', message: `password authentication failed for "${value}"` },
      detail: `base64 ${Buffer.from(value).toString('base64')}`,
    });
    expect(out).toHaveLength(1);
    expect(out[0]).not.toContain(value);
    expect(out[0]).not.toContain(Buffer.from(value).toString('base64'));
    expect(JSON.parse(out[0])).toMatchObject({
      trigger: 'cli:[REDACTED]',
      error: { message: 'password authentication failed for "[REDACTED]"' },
      detail: 'base64 [REDACTED]',
    });
  });

  it('keeps the rotation going when the trail cannot be written, and writes again once it can', () => {
    const written: string[] = [];
    let full = true;
    const sink = openAuditSink(
      { kind: 'stdout' },
      {
        stdout: {
          write: (l) => {
            if (full) throw Object.assign(new Error('disk full'), { code: 'ENOSPC' });
            written.push(l);
          },
        },
      },
    );
    expect(() => sink.listener(base)).not.toThrow();
    full = false;
    sink.listener({ ...base, kind: 'phase.completed', error: null });
    expect(written.map((l) => (JSON.parse(l) as { kind: string }).kind)).toEqual(['phase.completed']);
  });

  it('parses --audit as stdout or file:PATH and names the option for anything else', () => {
    expect(parseAuditDestination('stdout')).toEqual({ kind: 'stdout' });
    expect(parseAuditDestination('file:/var/log/rotator/audit.jsonl')).toEqual({
      kind: 'file',
      path: '/var/log/rotator/audit.jsonl',
    });
    for (const bad of ['syslog', 'file:', '', 'stderr'])
      expect(thrown(() => parseAuditDestination(bad, 'ROTATOR_AUDIT')).message).toBe(
        'ROTATOR_AUDIT: expected stdout or file:PATH',
      );
    expect(thrown(() => openAuditSink({ kind: 'file', path: join(dir, 'missing', 'audit.jsonl') })).message).toContain(
      '--audit: cannot open audit file',
    );
  });
});
