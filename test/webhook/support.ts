/**
 * Objects as kubectl writes them, and AdmissionReviews around them as the API server sends them.
 *
 * `kubectl create ... --dry-run=client -o json` runs at test time (no cluster needed). `kubectl run`
 * needs the API server's discovery even in client dry-run, so for Pods (and whenever kubectl is
 * missing) the object is built here in exactly the shape kubectl 1.32 prints; `objectSource` says
 * which was used.
 */
import { execFileSync } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { mkdtemp, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

export const objectSource: Record<string, 'kubectl' | 'built-in'> = {};

function kubectl(args: string[]): Record<string, unknown> | undefined {
  try {
    const out = execFileSync('kubectl', [...args, '--dry-run=client', '-o', 'json'], {
      encoding: 'utf8',
      stdio: ['ignore', 'pipe', 'ignore'],
      timeout: 20_000,
      env: { ...process.env, KUBECONFIG: '/dev/null' },
    });
    return JSON.parse(out) as Record<string, unknown>;
  } catch {
    return undefined;
  }
}

const labels = (app: string) => ({ app });

/** `kubectl create deployment NAME --image=IMAGE` (one container per image). */
export function deployment(name: string, ...images: string[]): Record<string, unknown> {
  const args = ['create', 'deployment', name, ...images.map((i) => `--image=${i}`)];
  const made = kubectl(args);
  objectSource.Deployment = made ? 'kubectl' : 'built-in';
  return (
    made ?? {
      kind: 'Deployment',
      apiVersion: 'apps/v1',
      metadata: { name, creationTimestamp: null, labels: labels(name) },
      spec: {
        replicas: 1,
        selector: { matchLabels: labels(name) },
        template: {
          metadata: { creationTimestamp: null, labels: labels(name) },
          spec: { containers: images.map((image) => ({ name: containerName(image), image, resources: {} })) },
        },
        strategy: {},
      },
      status: {},
    }
  );
}

/** `kubectl create cronjob NAME --image=IMAGE --schedule='*\/5 * * * *'`. */
export function cronJob(name: string, image: string): Record<string, unknown> {
  const made = kubectl(['create', 'cronjob', name, `--image=${image}`, '--schedule=*/5 * * * *']);
  objectSource.CronJob = made ? 'kubectl' : 'built-in';
  return (
    made ?? {
      kind: 'CronJob',
      apiVersion: 'batch/v1',
      metadata: { name, creationTimestamp: null },
      spec: {
        jobTemplate: {
          metadata: { name, creationTimestamp: null },
          spec: {
            template: {
              metadata: { creationTimestamp: null },
              spec: { containers: [{ name, image, resources: {} }], restartPolicy: 'OnFailure' },
            },
          },
        },
        schedule: '*/5 * * * *',
      },
      status: {},
    }
  );
}

/** What `kubectl run NAME --image=IMAGE --dry-run=client -o json` prints (kubectl 1.32). */
export function pod(name: string, image: string): Record<string, unknown> {
  objectSource.Pod = 'built-in';
  return {
    kind: 'Pod',
    apiVersion: 'v1',
    metadata: { name, creationTimestamp: null, labels: { run: name } },
    spec: {
      containers: [{ name, image, resources: {} }],
      restartPolicy: 'Always',
      dnsPolicy: 'ClusterFirst',
    },
    status: {},
  };
}

/** The container kubectl names after an image: its last path component without tag or digest. */
function containerName(image: string): string {
  const last = image.split('/').pop() ?? image;
  return last.split('@')[0]!.split(':')[0]!;
}

const RESOURCES: Record<string, { group: string; version: string; resource: string }> = {
  Pod: { group: '', version: 'v1', resource: 'pods' },
  Deployment: { group: 'apps', version: 'v1', resource: 'deployments' },
  ReplicaSet: { group: 'apps', version: 'v1', resource: 'replicasets' },
  CronJob: { group: 'batch', version: 'v1', resource: 'cronjobs' },
  Job: { group: 'batch', version: 'v1', resource: 'jobs' },
};

export interface ReviewOptions {
  operation?: 'CREATE' | 'UPDATE' | 'DELETE';
  oldObject?: Record<string, unknown>;
  subResource?: string;
  namespace?: string;
  uid?: string;
}

/** An AdmissionReview as the API server sends it for `object`. */
export function admissionReview(
  object: Record<string, unknown>,
  options: ReviewOptions = {},
): Record<string, unknown> {
  const kind = object.kind as string;
  const gvr = RESOURCES[kind] ?? { group: '', version: 'v1', resource: kind.toLowerCase() + 's' };
  const metadata = object.metadata as { name?: string };
  const operation = options.operation ?? 'CREATE';
  return {
    apiVersion: 'admission.k8s.io/v1',
    kind: 'AdmissionReview',
    request: {
      uid: options.uid ?? randomUUID(),
      kind: { group: gvr.group, version: gvr.version, kind },
      resource: gvr,
      ...(options.subResource ? { subResource: options.subResource } : {}),
      requestKind: { group: gvr.group, version: gvr.version, kind },
      requestResource: gvr,
      name: metadata.name,
      namespace: options.namespace ?? 'team-a',
      operation,
      userInfo: { username: 'alice@example.com', uid: 'u-1', groups: ['system:authenticated'] },
      object: operation === 'DELETE' ? null : object,
      oldObject: options.oldObject ?? null,
      dryRun: false,
      options: {
        apiVersion: 'meta.k8s.io/v1',
        kind: `${operation[0]}${operation.slice(1).toLowerCase()}Options`,
      },
    },
  };
}

/** A directory with the given policy documents, one file each. */
export async function policyDir(docs: Record<string, string>): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'portcullis-webhook-policies-'));
  for (const [name, text] of Object.entries(docs)) await writeFile(join(dir, name), text);
  return dir;
}

/** Policies for most webhook tests: no signatures needed, so they run against any registry. */
export function basicPolicies(
  registryGlob: string,
  bannedDigest = 'sha256:' + '0'.repeat(64),
): Record<string, string> {
  return {
    'set.yaml': `apiVersion: portcullis.dev/v1alpha1
kind: PolicySet
metadata: {name: default}
spec: {noMatch: deny}
`,
    'local.yaml': `apiVersion: portcullis.dev/v1alpha1
kind: ImagePolicy
metadata: {name: local}
spec:
  mode: enforce
  images: [{glob: "${registryGlob}/acme/**"}]
  rules:
    - name: known-bad
      digests: {deny: ["${bannedDigest}"]}
    - name: no-latest
      tags: {forbid: [latest]}
`,
    'staging.yaml': `apiVersion: portcullis.dev/v1alpha1
kind: ImagePolicy
metadata: {name: staging}
spec:
  mode: warn
  images: [{glob: "${registryGlob}/staging/**"}]
  rules:
    - name: release-tags
      tags: {allow: ["v*"]}
`,
    'pinned.yaml': `apiVersion: portcullis.dev/v1alpha1
kind: ImagePolicy
metadata: {name: pinned}
spec:
  images: [{glob: "${registryGlob}/pinned/**"}]
  rules:
    - name: by-digest
      tags: {requireDigest: true}
`,
    'observed.yaml': `apiVersion: portcullis.dev/v1alpha1
kind: ImagePolicy
metadata: {name: observed}
spec:
  mode: audit
  images: [{glob: "${registryGlob}/observed/**"}]
  rules:
    - name: pinned
      tags: {requireDigest: true}
`,
  };
}

export const randomUid = randomUUID;
