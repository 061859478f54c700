/**
 * core/v1 Events on a workload when one of its images newly fails (PortcullisPolicyViolation, Warning)
 * or passes again (PortcullisPolicyRecovered, Normal). Pure: the loop creates them.
 */
import type { Finding, WorkloadRef } from './findings.ts';

export const VIOLATION_REASON = 'PortcullisPolicyViolation';
export const RECOVERY_REASON = 'PortcullisPolicyRecovered';
export const EVENT_COMPONENT = 'portcullis-controller';
/** The API server refuses longer Event messages. */
const MAX_MESSAGE = 1024;

export type Transition = 'violation' | 'recovery';

export function workloadEvent(
  transition: Transition,
  workload: WorkloadRef,
  image: string,
  failures: readonly Finding[],
  now: Date,
): Record<string, unknown> {
  const detail = failures.map((f) => `policy ${f.policy} rule ${f.rule}: ${f.message}`).join('; ');
  const text =
    transition === 'violation'
      ? `image ${image} no longer complies: ${detail}`
      : `image ${image} complies again with every policy`;
  const time = now.toISOString();
  return {
    apiVersion: 'v1',
    kind: 'Event',
    metadata: {
      // Names must be unique; the API server completes generateName.
      generateName: `${workload.name.slice(0, 200)}.portcullis-`,
      namespace: workload.namespace,
    },
    involvedObject: {
      apiVersion: workload.apiVersion,
      kind: workload.kind,
      name: workload.name,
      namespace: workload.namespace,
      ...(workload.uid ? { uid: workload.uid } : {}),
    },
    reason: transition === 'violation' ? VIOLATION_REASON : RECOVERY_REASON,
    message: text.length > MAX_MESSAGE ? `${text.slice(0, MAX_MESSAGE - 1)}…` : text,
    type: transition === 'violation' ? 'Warning' : 'Normal',
    source: { component: EVENT_COMPONENT },
    reportingComponent: 'portcullis.dev/controller',
    reportingInstance: EVENT_COMPONENT,
    firstTimestamp: time,
    lastTimestamp: time,
    count: 1,
  };
}
