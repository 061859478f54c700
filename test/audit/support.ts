/**
 * Realistic workload dumps: objects printed by `kubectl create ... --dry-run=client -o json` at test
 * time (no cluster needed), or, when kubectl is missing, built-in objects of the same shape.
 */
import { execFileSync } from 'node:child_process';
import { findExecutable } from '../harness/registry.ts';

type Json = Record<string, unknown>;

const kubectl = findExecutable('kubectl');

export function deployment(name: string, namespace: string, image: string): Json {
  if (kubectl) {
    const out = execFileSync(
      kubectl,
      ['create', 'deployment', name, `--image=${image}`, '-n', namespace, '--dry-run=client', '-o', 'json'],
      { encoding: 'utf8' },
    );
    return JSON.parse(out) as Json;
  }
  return {
    apiVersion: 'apps/v1',
    kind: 'Deployment',
    metadata: { name, namespace, labels: { app: name } },
    spec: {
      replicas: 1,
      selector: { matchLabels: { app: name } },
      template: {
        metadata: { labels: { app: name } },
        spec: { containers: [{ name: image.split('/').pop()!.split(/[:@]/)[0], image }] },
      },
    },
  };
}

/** A running Pod as the API server shows it: owned by a ReplicaSet of a Deployment. */
export function ownedPod(name: string, namespace: string, replicaSet: string, image: string): Json {
  return {
    apiVersion: 'v1',
    kind: 'Pod',
    metadata: {
      name,
      namespace,
      uid: `uid-${name}`,
      labels: { app: replicaSet },
      ownerReferences: [
        {
          apiVersion: 'apps/v1',
          kind: 'ReplicaSet',
          name: replicaSet,
          uid: `uid-${replicaSet}`,
          controller: true,
        },
      ],
    },
    spec: { containers: [{ name: 'app', image }] },
  };
}

export function replicaSet(name: string, namespace: string, owner: string, image: string): Json {
  return {
    apiVersion: 'apps/v1',
    kind: 'ReplicaSet',
    metadata: {
      name,
      namespace,
      labels: { app: owner },
      ownerReferences: [{ apiVersion: 'apps/v1', kind: 'Deployment', name: owner, controller: true }],
    },
    spec: { template: { spec: { containers: [{ name: 'app', image }] } } },
  };
}

export const list = (items: unknown[]): Json => ({
  apiVersion: 'v1',
  kind: 'List',
  metadata: { resourceVersion: '' },
  items,
});
