// Failure converter that moves error messages and stack traces into an encoded payload; loaded by path (see data-converter.ts).
import { DefaultFailureConverter } from '@temporalio/common';

// Only @temporalio/common may be imported here: the Worker bundles this module into the workflow sandbox.
export const failureConverter = new DefaultFailureConverter({ encodeCommonAttributes: true });
