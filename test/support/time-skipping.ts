// The time-skipping test server for workflow tests that wait hours or days of workflow time.
import { TestWorkflowEnvironment } from '@temporalio/testing';
import { clientInterceptors } from '../../src/client/temporal';
import { toolPath } from '../../src/stack/local-stack';

/** The time-skipping test server; its client connection takes rotator's interceptors, as every connection does. */
export function timeSkippingEnvironment(): Promise<TestWorkflowEnvironment> {
  return TestWorkflowEnvironment.createTimeSkipping({
    server: { executable: { type: 'existing-path', path: toolPath('temporal-test-server') } },
    plugins: [
      { name: 'rotator-client-interceptors', configureConnection: (o) => ({ ...o, interceptors: clientInterceptors() }) },
    ],
  });
}
