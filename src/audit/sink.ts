// The audit sink: a RotationEvents listener writing one JSON line per event to stdout or a file (append, 0600).
// Writes are synchronous, so a line is out before the next event and nothing is lost on a clean stop.
import { closeSync, fchmodSync, fstatSync, openSync, writeSync } from 'node:fs';
import type { RotationEventListener } from '../kernel/events';
import { RotatorError } from '../kernel/errors';
import { logger } from '../kernel/log';
import type { AuditDestination } from './destination';
import { auditRecord } from './record';

export interface AuditSink {
  listener: RotationEventListener;
  close(): void;
}

export interface AuditSinkOptions {
  /** Values never to write (the config's secrets): scrubbed from every string of every record. */
  secrets?: ReadonlyArray<string>;
  /** Where `stdout` goes; process.stdout unless a test says otherwise. */
  stdout?: { write(line: string): unknown };
  /** The option or variable the destination came from, named in an error opening it. */
  field?: string;
}

/** Opens the destination now (a file that cannot be opened fails the worker's start, naming the option). */
export function openAuditSink(destination: AuditDestination, options: AuditSinkOptions = {}): AuditSink {
  const secrets = options.secrets ?? [];
  let write: (line: string) => void;
  let close = () => undefined as void;
  if (destination.kind === 'stdout') {
    const out = options.stdout ?? process.stdout;
    write = (line) => void out.write(line);
  } else {
    const fd = openAuditFile(destination.path, options.field ?? '--audit');
    write = (line) => void writeSync(fd, line);
    close = () => closeSync(fd);
  }
  let failing = false;
  return {
    listener(event) {
      try {
        write(`${JSON.stringify(auditRecord(event, secrets))}\n`);
        failing = false;
      } catch (err) {
        // The rotation goes on; the operator hears about it once per run of failures, not once per event.
        if (!failing) logger.error({ err: (err as NodeJS.ErrnoException).code ?? String(err) }, 'cannot write the audit trail');
        failing = true;
      }
    },
    close,
  };
}

/** Append-only, created 0600; an existing file readable by others is narrowed to 0600 (the trail names logins). */
function openAuditFile(path: string, field: string): number {
  let fd: number;
  try {
    fd = openSync(path, 'a', 0o600);
  } catch (err) {
    throw new RotatorError(
      'CONFIG_INVALID',
      `cannot open audit file ${path}: ${(err as NodeJS.ErrnoException).code ?? 'error'}`,
      field,
    );
  }
  try {
    const stat = fstatSync(fd);
    if (stat.isFile() && (stat.mode & 0o077) !== 0) fchmodSync(fd, 0o600);
  } catch (err) {
    closeSync(fd);
    throw new RotatorError(
      'CONFIG_INVALID',
      `cannot make audit file ${path} private: ${(err as NodeJS.ErrnoException).code ?? 'error'}`,
      field,
    );
  }
  return fd;
}
