// Traces: OpenTelemetry spans through Temporal's interceptors (client calls, every workflow and activity), exported
// where ROTATOR_TRACES_EXPORTER says. Spans name the secret (rotator.secret) and phase (rotator.phase), never a value.
import * as otel from '@opentelemetry/api';
import { W3CTraceContextPropagator } from '@opentelemetry/core';
import { OTLPTraceExporter } from '@opentelemetry/exporter-trace-otlp-http';
import { Resource } from '@opentelemetry/resources';
import {
  BasicTracerProvider,
  BatchSpanProcessor,
  ConsoleSpanExporter,
  SimpleSpanProcessor,
  type SpanProcessor,
} from '@opentelemetry/sdk-trace-base';
import type { WorkflowClientInterceptor } from '@temporalio/client';
import {
  makeWorkflowExporter,
  OpenTelemetryActivityInboundInterceptor,
  OpenTelemetryActivityOutboundInterceptor,
  OpenTelemetryWorkflowClientInterceptor,
  type OpenTelemetrySinks,
} from '@temporalio/interceptors-opentelemetry';
import type {
  ActivityExecuteInput,
  ActivityInboundCallsInterceptor,
  ActivityInterceptorsFactory,
  InjectedSinks,
  Next,
} from '@temporalio/worker';
import type { WorkflowInfo } from '@temporalio/workflow';
import { z } from 'zod';
import { RotatorError } from '../kernel/errors';
import { AsyncLocalStorageContextManager } from './context-manager';
import { secretOfArgs, type RotationProgress } from './progress';

export const SECRET_ATTRIBUTE = 'rotator.secret';
export const PHASE_ATTRIBUTE = 'rotator.phase';

/**
 * The workflow-side interceptors, bundled into the workflow code (`interceptors.workflowModules`, or
 * `workflowInterceptorModules` of bundleWorkflowCode). The SDK's own module: no project code enters the sandbox.
 */
export const WORKFLOW_TRACING_MODULES: string[] = [
  require.resolve('@temporalio/interceptors-opentelemetry/lib/workflow-interceptors'),
];

const TracingEnvSchema = z.object({
  ROTATOR_TRACES_EXPORTER: z.enum(['none', 'otlp', 'console']).default('none'),
  OTEL_SERVICE_NAME: z.string().min(1).default('rotator'),
  OTEL_EXPORTER_OTLP_ENDPOINT: z.url().optional(),
});

export interface Tracing {
  tracer: otel.Tracer;
  /** For the worker's `interceptors.activity`: a span per activity, labelled with its secret and phase. */
  activityInterceptors(progress?: RotationProgress): ActivityInterceptorsFactory[];
  /** For a Client's `interceptors.workflow`: starts, signals and queries carry the trace into the workflow. */
  clientInterceptors: WorkflowClientInterceptor[];
  /** The sink the workflow interceptors export their spans through. */
  sinks(progress?: RotationProgress): InjectedSinks<OpenTelemetrySinks>;
  /** Exports what is still buffered and stops. */
  shutdown(): Promise<void>;
}

/** Tracing as the environment configures it, or null for ROTATOR_TRACES_EXPORTER=none (the default). */
export function tracingFromEnv(env: NodeJS.ProcessEnv = process.env): Tracing | null {
  const parsed = TracingEnvSchema.safeParse(env);
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    const field = String(issue.path[0] ?? 'ROTATOR_TRACES_EXPORTER');
    throw new RotatorError('CONFIG_INVALID', issue.message, field);
  }
  const settings = parsed.data;
  if (settings.ROTATOR_TRACES_EXPORTER === 'none') return null;
  const endpoint = settings.OTEL_EXPORTER_OTLP_ENDPOINT;
  const processor =
    settings.ROTATOR_TRACES_EXPORTER === 'console'
      ? new SimpleSpanProcessor(new ConsoleSpanExporter())
      : // OTLP over HTTP: the base endpoint gets the traces path, as the OTEL_EXPORTER_OTLP_ENDPOINT spec says;
        // without one the exporter's default (http://localhost:4318/v1/traces).
        new BatchSpanProcessor(new OTLPTraceExporter(endpoint ? { url: `${endpoint.replace(/\/+$/, '')}/v1/traces` } : {}));
  return createTracing({ processor, serviceName: settings.OTEL_SERVICE_NAME });
}

let globalsInstalled = false;

/** The API's context manager and propagator are per process: trace context crosses awaits and Temporal headers. */
function installGlobals(): void {
  if (globalsInstalled) return;
  globalsInstalled = true;
  otel.context.setGlobalContextManager(new AsyncLocalStorageContextManager().enable());
  otel.propagation.setGlobalPropagator(new W3CTraceContextPropagator());
}

/** Tracing into `processor` (tests pass an in-memory exporter's). */
export function createTracing(options: { processor: SpanProcessor; serviceName?: string }): Tracing {
  installGlobals();
  const resource = new Resource({ 'service.name': options.serviceName ?? 'rotator' });
  const provider = new BasicTracerProvider({ resource, spanProcessors: [options.processor] });
  const tracer = provider.getTracer('rotator');
  const workflowSpans = makeWorkflowExporter(options.processor, resource);
  return {
    tracer,
    activityInterceptors: (progress) => [
      (ctx) => ({
        inbound: new OpenTelemetryActivityInboundInterceptor(ctx, { tracer }),
        outbound: new OpenTelemetryActivityOutboundInterceptor(ctx),
      }),
      // Inside the span above: it labels the active span.
      (ctx) => ({
        inbound: new SpanLabels(() => {
          const workflowId = ctx.info.workflowExecution?.workflowId;
          return workflowId ? (progress?.phaseOf(workflowId) ?? null) : null;
        }),
      }),
    ],
    clientInterceptors: [new OpenTelemetryWorkflowClientInterceptor({ tracer })],
    sinks: (progress) => ({
      exporter: {
        export: {
          fn: (info, spans) => {
            const secret = progress?.secretOf(info.workflowId) ?? null;
            const labelled = spans.map((span) => ({
              ...span,
              attributes: { ...span.attributes, ...(secret ? { [SECRET_ATTRIBUTE]: secret } : {}) },
            }));
            // The SDK copies the info it is given onto every span: only the execution's names, not its memo,
            // search attributes or last result.
            return workflowSpans.export.fn(executionNames(info), labelled);
          },
          callDuringReplay: false,
        },
      },
    }),
    shutdown: () => provider.shutdown(),
  };
}

/** Without tracing the sink still exists, so a workflow bundle built with the tracing modules runs quietly. */
export const NO_TRACING_SINKS: InjectedSinks<OpenTelemetrySinks> = {
  exporter: { export: { fn: () => undefined, callDuringReplay: false } },
};

function executionNames(info: WorkflowInfo): WorkflowInfo {
  const { namespace, taskQueue, workflowId, runId, workflowType, attempt } = info;
  return { namespace, taskQueue, workflowId, runId, workflowType, attempt } as WorkflowInfo;
}

class SpanLabels implements ActivityInboundCallsInterceptor {
  constructor(private readonly phase: () => string | null) {}

  async execute(input: ActivityExecuteInput, next: Next<ActivityInboundCallsInterceptor, 'execute'>): Promise<unknown> {
    const span = otel.trace.getActiveSpan();
    if (span) {
      const secret = secretOfArgs(input.args);
      const phase = this.phase();
      if (secret) span.setAttribute(SECRET_ATTRIBUTE, secret);
      if (phase) span.setAttribute(PHASE_ATTRIBUTE, phase);
    }
    return next(input);
  }
}
