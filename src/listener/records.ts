// The listener's log records that say what became of a delivery: written by the sources and the dispatcher, counted
// by its metrics (src/observability/listener-metrics.ts). One definition, so a reworded message cannot silently stop
// a counter.
export const RECORD = {
  webhookRequest: 'webhook request',
  dispatched: 'event dispatched',
  duplicate: 'event seen before; not started again',
  unmapped: 'event maps to no rule; dropped',
  sqsDropped: 'sqs message dropped (no dead_letter_queue_url configured)',
  sqsDeadLettered: 'sqs message sent to the dead-letter queue',
  sqsDispatchFailed: 'dispatch failed; the message will be redelivered after its visibility timeout',
} as const;
