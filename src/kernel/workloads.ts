// How a Kubernetes workload is named in notes, logs and errors. Workflow-safe: rotateSecret's notes use it too.

export function describeWorkload(w: { kind: string; namespace: string; name: string }): string {
  return `${w.kind.toLowerCase()} ${w.namespace}/${w.name}`;
}
