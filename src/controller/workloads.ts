/**
 * A Pod's workload (what an Event and a report result should name) and its images. The workload is the
 * controlling owner; a ReplicaSet that a Deployment made (its name is `<deployment>-<pod-template-hash>`)
 * is reported as that Deployment, without an API round trip per pod. Pure.
 */
import type { Pod } from '../kubernetes/api.ts';
import { podImages } from '../kubernetes/pod-spec.ts';
import type { WorkloadRef } from './findings.ts';

export interface PodWorkload {
  readonly workload: WorkloadRef;
  /** Distinct images of all containers, init and ephemeral ones included. */
  readonly images: readonly string[];
  /** Where each image is written in the pod (`spec.containers[0].image`), its first place when several. */
  readonly paths: ReadonlyMap<string, string>;
  /** The pod itself (its pull secrets). */
  readonly pod: Pod;
  /** The pod's `metadata.labels` (what `spec.match.objectSelector` reads). */
  readonly labels: Readonly<Record<string, string>>;
  /** Parts of the pod spec that could not be read: reported as errors, never skipped. */
  readonly problems: readonly string[];
}

export function podWorkload(pod: Pod): PodWorkload {
  const meta = pod.metadata;
  const owner = meta.ownerReferences?.find((o) => o.controller === true);
  const hash = meta.labels?.['pod-template-hash'];
  let workload: WorkloadRef;
  if (owner?.kind === 'ReplicaSet' && hash && owner.name.endsWith(`-${hash}`)) {
    workload = {
      apiVersion: 'apps/v1',
      kind: 'Deployment',
      name: owner.name.slice(0, -hash.length - 1),
      ...(meta.namespace ? { namespace: meta.namespace } : {}),
    };
  } else if (owner) {
    workload = {
      apiVersion: owner.apiVersion,
      kind: owner.kind,
      name: owner.name,
      uid: owner.uid,
      ...(meta.namespace ? { namespace: meta.namespace } : {}),
    };
  } else {
    workload = {
      apiVersion: 'v1',
      kind: 'Pod',
      name: meta.name,
      ...(meta.namespace ? { namespace: meta.namespace } : {}),
      ...(meta.uid ? { uid: meta.uid } : {}),
    };
  }
  const found = podImages({ kind: 'Pod', spec: pod.spec });
  return {
    workload,
    images: [...new Set(found.images.map((i) => i.image))],
    paths: new Map([...found.images].reverse().map((i) => [i.image, i.path])),
    pod,
    labels: meta.labels ?? {},
    problems: found.problems.map((p) => `pod ${meta.namespace ?? ''}/${meta.name}: ${p}`),
  };
}
