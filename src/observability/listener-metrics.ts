// `rotator listen`'s Prometheus metrics: events received, accepted and rejected per source, rotations triggered.
// They count the listener's own structured log records (one per webhook request, per dispatched event, per retired
// SQS message), read through a tap on its logger, so that the sources need no second reporting path.
import { Counter, Registry } from 'prom-client';
import { collectProcessMetrics } from './default-metrics';
import type { Logger } from '../kernel/log';
import { RECORD } from '../listener/records';

const {
  webhookRequest: WEBHOOK_REQUEST,
  dispatched: DISPATCHED,
  duplicate: DUPLICATE,
  unmapped: UNMAPPED,
  sqsDropped: SQS_DROPPED,
  sqsDeadLettered: SQS_DEAD_LETTERED,
  sqsDispatchFailed: SQS_DISPATCH_FAILED,
} = RECORD;

type Fields = Record<string, unknown>;

export class ListenerMetrics {
  readonly registry = new Registry();
  private readonly sources: ReadonlySet<string>;

  private readonly received = new Counter({
    name: 'rotator_listener_events_received_total',
    help: 'Deliveries per configured source: events handed to the dispatcher plus deliveries refused before that.',
    labelNames: ['source'] as const,
    registers: [this.registry],
  });
  private readonly accepted = new Counter({
    name: 'rotator_listener_events_accepted_total',
    help: 'Authenticated, parsed events handed to the dispatcher, by result (started, duplicate, unmapped).',
    labelNames: ['source', 'result'] as const,
    registers: [this.registry],
  });
  private readonly rejected = new Counter({
    name: 'rotator_listener_events_rejected_total',
    help: 'Deliveries refused: webhook requests by HTTP status (401, 400, 413, …), SQS messages by reason (unreadable, dispatch-failed).',
    labelNames: ['source', 'reason'] as const,
    registers: [this.registry],
  });
  private readonly failed = new Counter({
    name: 'rotator_listener_dispatch_failures_total',
    help: 'Events that could not be handed on (Temporal unreachable); the sender retries them.',
    labelNames: ['source'] as const,
    registers: [this.registry],
  });
  private readonly triggered = new Counter({
    name: 'rotator_listener_rotations_triggered_total',
    help: 'Trigger workflows started (each rotates, joins a running rotation or skips), by source and action.',
    labelNames: ['source', 'action'] as const,
    registers: [this.registry],
  });

  /** `sources`: the configured source names; anything else a request names counts as `unknown`. */
  constructor(sources: Iterable<string>) {
    this.sources = new Set(sources);
    collectProcessMetrics(this.registry);
  }

  get contentType(): string {
    return this.registry.contentType;
  }

  scrape(): Promise<string> {
    return this.registry.metrics();
  }

  /** The logger to hand the listener: logs as `log` does, and counts the records above on the way. */
  tap(log: Logger): Logger {
    const observe = (fields: unknown, message: unknown) => {
      if (fields && typeof fields === 'object' && typeof message === 'string') this.observe(fields as Fields, message);
    };
    return new Proxy(log, {
      get(target, prop, receiver) {
        const value: unknown = Reflect.get(target, prop, receiver);
        if ((prop === 'info' || prop === 'warn' || prop === 'error') && typeof value === 'function') {
          return (fields: unknown, message: unknown, ...rest: unknown[]) => {
            observe(fields, message);
            return (value as (...args: unknown[]) => unknown).call(target, fields, message, ...rest);
          };
        }
        return value;
      },
    });
  }

  private source(fields: Fields): string {
    return typeof fields.source === 'string' && this.sources.has(fields.source) ? fields.source : 'unknown';
  }

  private observe(fields: Fields, message: string): void {
    const source = this.source(fields);
    switch (message) {
      case WEBHOOK_REQUEST: {
        // A request whose events reached the dispatcher (an `outcome`) is counted by the dispatcher's records.
        if ('outcome' in fields) return;
        const status = typeof fields.status === 'number' ? fields.status : 0;
        if (status >= 400 && status < 500) {
          this.received.inc({ source });
          this.rejected.inc({ source, reason: String(status) });
        } else if (status >= 500) {
          this.failed.inc({ source });
        }
        return;
      }
      case DISPATCHED:
        this.received.inc({ source });
        this.accepted.inc({ source, result: 'started' });
        this.triggered.inc({ source, action: typeof fields.action === 'string' ? fields.action : 'unknown' });
        return;
      case DUPLICATE:
        this.received.inc({ source });
        this.accepted.inc({ source, result: 'duplicate' });
        return;
      case UNMAPPED:
        this.received.inc({ source });
        this.accepted.inc({ source, result: 'unmapped' });
        return;
      case SQS_DROPPED:
      case SQS_DEAD_LETTERED:
        this.received.inc({ source });
        this.rejected.inc({ source, reason: typeof fields.reason === 'string' ? fields.reason : 'unknown' });
        return;
      case SQS_DISPATCH_FAILED:
        this.failed.inc({ source });
        return;
      default:
        return;
    }
  }
}
