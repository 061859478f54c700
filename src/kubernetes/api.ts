/**
 * The few Kubernetes API calls the webhook makes: image pull secrets and service accounts (registry
 * credentials at admission), namespaces (their labels, for selectors), and the policy custom
 * resources (list, then watch).
 *
 * The real implementation takes its connection and authentication from @kubernetes/client-node's
 * KubeConfig (in-cluster service account or a kubeconfig file) and makes the requests itself with
 * node:https, so that every wait and every size is bounded: an admission request must never hang on
 * the API server, and a huge answer must never be buffered.
 */
import { request as httpRequest, type IncomingMessage, type RequestOptions } from 'node:http';
import { request as httpsRequest } from 'node:https';
import { KubeConfig } from '@kubernetes/client-node';
import { isJsonObject as isObject } from './pod-spec.ts';

export interface ObjectMeta {
  readonly name: string;
  readonly namespace?: string;
  readonly resourceVersion?: string;
  readonly labels?: Readonly<Record<string, string>>;
}

export interface Secret {
  readonly metadata: ObjectMeta;
  readonly type?: string;
  /** base64 values, as the API serves them. */
  readonly data?: Readonly<Record<string, string>>;
}

export interface ServiceAccount {
  readonly metadata: ObjectMeta;
  readonly imagePullSecrets?: readonly { readonly name?: string }[];
}

export interface Namespace {
  readonly metadata: ObjectMeta;
}

/**
 * The custom resources of src/install/crd.ts (group portcullis.dev, version v1alpha1): `ImagePolicy` is
 * cluster-scoped, `NamespacedImagePolicy` applies only in its namespace.
 */
export type PolicyResourceKind = 'ImagePolicy' | 'NamespacedImagePolicy';

export const POLICY_GROUP = 'portcullis.dev';
export const POLICY_VERSION = 'v1alpha1';
export const POLICY_PLURALS: Readonly<Record<PolicyResourceKind, string>> = {
  ImagePolicy: 'imagepolicies',
  NamespacedImagePolicy: 'namespacedimagepolicies',
};

export interface PolicyResource {
  readonly apiVersion?: string;
  readonly kind?: string;
  readonly metadata: ObjectMeta;
  readonly spec?: unknown;
}

export interface ResourceList<T> {
  readonly items: readonly T[];
  readonly resourceVersion: string;
}

export type WatchEvent<T> =
  | { readonly type: 'ADDED' | 'MODIFIED' | 'DELETED'; readonly object: T }
  /** Only carries a newer resourceVersion to resume from. */
  | { readonly type: 'BOOKMARK'; readonly resourceVersion: string };

export interface KubernetesApi {
  /** undefined when the secret does not exist (404). */
  getSecret(namespace: string, name: string): Promise<Secret | undefined>;
  getServiceAccount(namespace: string, name: string): Promise<ServiceAccount | undefined>;
  getNamespace(name: string): Promise<Namespace | undefined>;
  /** All resources of the kind (every namespace for NamespacedImagePolicy). */
  listImagePolicies(kind: PolicyResourceKind): Promise<ResourceList<PolicyResource>>;
  /**
   * Streams changes after `resourceVersion` until the server ends the watch (resolves) or it fails
   * (rejects with KubernetesApiError; status 410 when the version is too old: list again).
   */
  watchImagePolicies(
    kind: PolicyResourceKind,
    resourceVersion: string,
    onEvent: (event: WatchEvent<PolicyResource>) => void,
    signal: AbortSignal,
  ): Promise<void>;
  /**
   * Every object of a workload resource across all namespaces (`portcullis audit`), read in pages of
   * WORKLOAD_PAGE_SIZE up to API_LIMITS.maxListedObjects. Optional: only the real client has it.
   */
  listWorkloads?(resource: WorkloadResource): Promise<ResourceList<Record<string, unknown>>>;
}

/** The resources `portcullis audit` lists: everything that runs containers, and the owners that name them. */
export const WORKLOAD_RESOURCES = {
  pods: '/api/v1/pods',
  replicasets: '/apis/apps/v1/replicasets',
  deployments: '/apis/apps/v1/deployments',
  statefulsets: '/apis/apps/v1/statefulsets',
  daemonsets: '/apis/apps/v1/daemonsets',
  jobs: '/apis/batch/v1/jobs',
  cronjobs: '/apis/batch/v1/cronjobs',
  replicationcontrollers: '/api/v1/replicationcontrollers',
} as const;
export type WorkloadResource = keyof typeof WORKLOAD_RESOURCES;
export const WORKLOAD_PAGE_SIZE = 500;

/** An owner of an object (`metadata.ownerReferences[]`). */
export interface OwnerReference {
  readonly apiVersion: string;
  readonly kind: string;
  readonly name: string;
  readonly uid: string;
  readonly controller?: boolean;
}

export interface Pod {
  readonly apiVersion?: string;
  readonly kind?: string;
  readonly metadata: ObjectMeta & {
    readonly uid?: string;
    readonly ownerReferences?: readonly OwnerReference[];
  };
  readonly spec?: unknown;
}

/** A `wgpolicyk8s.io/v1alpha2` PolicyReport (namespaced) or ClusterPolicyReport, as the controller writes it. */
export interface PolicyReportObject {
  readonly apiVersion: string;
  readonly kind: 'PolicyReport' | 'ClusterPolicyReport';
  readonly metadata: { readonly name: string; readonly namespace?: string };
}

/**
 * What the controller (src/controller) needs beyond the webhook's calls: Pods (list in pages, watch),
 * PolicyReports (create or replace) and Events (create). The real client has them all.
 */
export interface ControllerApi {
  /** The namespace (its labels, for `spec.match.namespaceSelector`); undefined when it does not exist. */
  getNamespace(name: string): Promise<Namespace | undefined>;
  /** Every Pod in every namespace, in pages of 500, at most API_LIMITS.maxPods. */
  listPods(): Promise<ResourceList<Pod>>;
  /** As watchImagePolicies, for Pods in every namespace. */
  watchPods(
    resourceVersion: string,
    onEvent: (event: WatchEvent<Pod>) => void,
    signal: AbortSignal,
  ): Promise<void>;
  /** Creates the report, or replaces the existing one of that name (keeping nothing of it). */
  applyPolicyReport(report: PolicyReportObject): Promise<void>;
  /** Creates a core/v1 Event in the namespace. */
  createEvent(namespace: string, event: Readonly<Record<string, unknown>>): Promise<void>;
}

export const REPORT_GROUP_VERSION = 'wgpolicyk8s.io/v1alpha2';

/** A `coordination.k8s.io/v1` Lease: who leads, until when (times are RFC 3339 MicroTime). */
export interface Lease {
  readonly apiVersion?: string;
  readonly kind?: string;
  readonly metadata: ObjectMeta & { readonly resourceVersion?: string };
  readonly spec?: {
    readonly holderIdentity?: string;
    readonly leaseDurationSeconds?: number;
    readonly acquireTime?: string;
    readonly renewTime?: string;
    readonly leaseTransitions?: number;
  };
}

/** Leader election: one lease, read and written with optimistic concurrency. */
export interface LeaseApi {
  /** The lease, or undefined when there is none. */
  getLease(namespace: string, name: string): Promise<Lease | undefined>;
  /**
   * Creates the lease (no `resourceVersion`) or replaces it (with the `resourceVersion` read): false
   * when someone else wrote it first (409), so the caller reads again.
   */
  writeLease(lease: Lease): Promise<boolean>;
}
const POD_PAGE = 500;

export class KubernetesApiError extends Error {
  readonly code = 'KUBERNETES_API_ERROR';
  /** HTTP status (or a watch ERROR event's code); 0 when no answer came. */
  readonly status: number;
  constructor(message: string, status: number, options?: ErrorOptions) {
    super(message, options);
    this.name = 'KubernetesApiError';
    this.status = status;
  }
}

export interface KubernetesApiOptions {
  /** A kubeconfig file; otherwise the in-cluster service account. */
  readonly kubeconfig?: string;
  /** Each GET, connection included (default 5 s: it is spent inside an admission deadline). */
  readonly requestTimeoutMs?: number;
  /** A watch with no byte for this long is abandoned (default 5 min + 30 s). */
  readonly watchIdleMs?: number;
}

/** Bounds on what the API server may make us hold. */
export const API_LIMITS = {
  objectBytes: 4 * 1024 * 1024,
  listBytes: 64 * 1024 * 1024,
  watchLineBytes: 4 * 1024 * 1024,
  /** Asked of the server; it ends the watch after this, and we watch again. */
  watchSeconds: 300,
  /** Pods listed by the controller (all pages). */
  maxPods: 100_000,
  /** A write's answer (the object written back). */
  writeAnswerBytes: 4 * 1024 * 1024,
  /** Objects of one resource listed for an audit (all pages). */
  maxListedObjects: 100_000,
} as const;

const leases = (namespace: string) => `/apis/coordination.k8s.io/v1/namespaces/${seg(namespace)}/leases`;

const DNS_NAME = /^[a-z0-9]([-a-z0-9.]{0,251}[a-z0-9])?$/;

/** Loads the KubeConfig (file, or in-cluster) and returns the client. Throws KubernetesApiError. */
export function createKubernetesApi(
  options: KubernetesApiOptions = {},
): KubernetesApi & ControllerApi & LeaseApi {
  if (options.kubeconfig === undefined && !process.env.KUBERNETES_SERVICE_HOST) {
    // The client library would go on to build "https://undefined:undefined".
    throw new KubernetesApiError(
      'cannot load Kubernetes API configuration: not running in a cluster (KUBERNETES_SERVICE_HOST is not set); give --kubeconfig FILE',
      0,
    );
  }
  const kc = new KubeConfig();
  try {
    if (options.kubeconfig !== undefined) kc.loadFromFile(options.kubeconfig);
    else kc.loadFromCluster();
  } catch (error) {
    const where = options.kubeconfig ?? 'the in-cluster service account';
    throw new KubernetesApiError(
      `cannot load Kubernetes API configuration from ${where}: ${(error as Error).message}`,
      0,
    );
  }
  const cluster = kc.getCurrentCluster();
  if (!cluster) {
    throw new KubernetesApiError(
      `no current cluster in ${options.kubeconfig ?? 'the in-cluster configuration'}`,
      0,
    );
  }
  let server: URL;
  try {
    server = new URL(cluster.server);
  } catch {
    throw new KubernetesApiError(`the cluster server ${JSON.stringify(cluster.server)} is not a URL`, 0);
  }
  return new HttpKubernetesApi(server, (opts) => kc.applyToHTTPSOptions(opts), options);
}

type Authorize = (options: RequestOptions) => Promise<void>;

class HttpKubernetesApi implements KubernetesApi, ControllerApi, LeaseApi {
  readonly #server: URL;
  readonly #authorize: Authorize;
  readonly #timeoutMs: number;
  readonly #idleMs: number;

  constructor(server: URL, authorize: Authorize, options: KubernetesApiOptions) {
    this.#server = server;
    this.#authorize = authorize;
    this.#timeoutMs = options.requestTimeoutMs ?? 5_000;
    this.#idleMs = options.watchIdleMs ?? (API_LIMITS.watchSeconds + 30) * 1000;
  }

  getSecret(namespace: string, name: string): Promise<Secret | undefined> {
    return this.#getObject<Secret>(`/api/v1/namespaces/${seg(namespace)}/secrets/${seg(name)}`);
  }

  getServiceAccount(namespace: string, name: string): Promise<ServiceAccount | undefined> {
    return this.#getObject<ServiceAccount>(
      `/api/v1/namespaces/${seg(namespace)}/serviceaccounts/${seg(name)}`,
    );
  }

  getNamespace(name: string): Promise<Namespace | undefined> {
    return this.#getObject<Namespace>(`/api/v1/namespaces/${seg(name)}`);
  }

  async listPods(): Promise<ResourceList<Pod>> {
    const items: Pod[] = [];
    let resourceVersion = '';
    let next = '';
    do {
      const query = new URLSearchParams({ limit: String(POD_PAGE), ...(next ? { continue: next } : {}) });
      const path = `/api/v1/pods?${query}`;
      const body = await this.#get(path, API_LIMITS.listBytes);
      if (!isObject(body) || !Array.isArray(body.items)) {
        throw new KubernetesApiError(`${path}: the answer is not a list`, 0);
      }
      for (const item of body.items) if (isResource(item)) items.push(item as Pod);
      if (items.length > API_LIMITS.maxPods) {
        throw new KubernetesApiError(`/api/v1/pods: more than ${API_LIMITS.maxPods} pods`, 0);
      }
      const meta = isObject(body.metadata) ? body.metadata : {};
      if (typeof meta.resourceVersion === 'string') resourceVersion = meta.resourceVersion;
      next = typeof meta.continue === 'string' ? meta.continue : '';
    } while (next !== '');
    return { items, resourceVersion };
  }

  watchPods(
    resourceVersion: string,
    onEvent: (event: WatchEvent<Pod>) => void,
    signal: AbortSignal,
  ): Promise<void> {
    return this.#watch(
      '/api/v1/pods',
      resourceVersion,
      onEvent as (e: WatchEvent<PolicyResource>) => void,
      signal,
    );
  }

  async applyPolicyReport(report: PolicyReportObject): Promise<void> {
    const { name, namespace } = report.metadata;
    const collection =
      report.kind === 'PolicyReport'
        ? `/apis/${REPORT_GROUP_VERSION}/namespaces/${seg(namespace ?? '')}/policyreports`
        : `/apis/${REPORT_GROUP_VERSION}/clusterpolicyreports`;
    const path = `${collection}/${seg(name)}`;
    // Replace needs the current resourceVersion; one retry covers a write that raced ours.
    for (let attempt = 0; ; attempt++) {
      const current = await this.#get(path, API_LIMITS.objectBytes);
      const rv = isResource(current) ? current.metadata.resourceVersion : undefined;
      const status =
        current === undefined
          ? await this.#write('POST', collection, report)
          : await this.#write('PUT', path, {
              ...report,
              metadata: { ...report.metadata, ...(rv ? { resourceVersion: rv } : {}) },
            });
      if (status.ok) return;
      if (status.status !== 409 || attempt >= 1) throw status.error;
    }
  }

  getLease(namespace: string, name: string): Promise<Lease | undefined> {
    return this.#getObject<Lease>(`${leases(namespace)}/${seg(name)}`);
  }

  async writeLease(lease: Lease): Promise<boolean> {
    const { name, namespace, resourceVersion } = lease.metadata;
    const body = { apiVersion: 'coordination.k8s.io/v1', kind: 'Lease', ...lease };
    const result = resourceVersion
      ? await this.#write('PUT', `${leases(namespace ?? '')}/${seg(name)}`, body)
      : await this.#write('POST', leases(namespace ?? ''), body);
    if (result.ok) return true;
    if (result.status === 409) return false;
    throw result.error;
  }

  async createEvent(namespace: string, event: Readonly<Record<string, unknown>>): Promise<void> {
    const result = await this.#write('POST', `/api/v1/namespaces/${seg(namespace)}/events`, event);
    if (!result.ok) throw result.error;
  }

  /** A POST or PUT of JSON, bounded like a GET; 2xx is ok, anything else an error the caller may inspect. */
  async #write(
    method: 'POST' | 'PUT',
    path: string,
    body: unknown,
  ): Promise<{ ok: true } | { ok: false; status: number; error: KubernetesApiError }> {
    const signal = AbortSignal.timeout(this.#timeoutMs);
    let status: number;
    let text: Buffer;
    try {
      const response = await this.#open(path, signal, this.#timeoutMs, {
        method,
        body: JSON.stringify(body),
      });
      status = response.statusCode ?? 0;
      text = await readBody(response, API_LIMITS.writeAnswerBytes);
    } catch (error) {
      if (error instanceof KubernetesApiError) throw error;
      const why = signal.aborted ? `no answer within ${this.#timeoutMs} ms` : (error as Error).message;
      throw new KubernetesApiError(`${method} ${path}: ${why}`, 0, { cause: error });
    }
    if (status >= 200 && status < 300) return { ok: true };
    return { ok: false, status, error: statusError(`${method} ${path}`, status, text) };
  }

  async listImagePolicies(kind: PolicyResourceKind): Promise<ResourceList<PolicyResource>> {
    const path = policyPath(kind);
    const body = await this.#get(path, API_LIMITS.listBytes);
    if (body === undefined) {
      throw new KubernetesApiError(
        `${path}: not found (is the ${POLICY_PLURALS[kind]}.${POLICY_GROUP} CRD installed?)`,
        404,
      );
    }
    if (!isObject(body) || !Array.isArray(body.items)) {
      throw new KubernetesApiError(`${path}: the answer is not a list`, 0);
    }
    const meta = isObject(body.metadata) ? body.metadata : {};
    return {
      items: body.items.filter(isResource),
      resourceVersion: typeof meta.resourceVersion === 'string' ? meta.resourceVersion : '',
    };
  }

  watchImagePolicies(
    kind: PolicyResourceKind,
    resourceVersion: string,
    onEvent: (event: WatchEvent<PolicyResource>) => void,
    signal: AbortSignal,
  ): Promise<void> {
    return this.#watch(policyPath(kind), resourceVersion, onEvent, signal);
  }

  async #watch(
    collection: string,
    resourceVersion: string,
    onEvent: (event: WatchEvent<PolicyResource>) => void,
    signal: AbortSignal,
  ): Promise<void> {
    const query = new URLSearchParams({
      watch: 'true',
      allowWatchBookmarks: 'true',
      timeoutSeconds: String(API_LIMITS.watchSeconds),
      ...(resourceVersion ? { resourceVersion } : {}),
    });
    const path = `${collection}?${query}`;
    const response = await this.#open(path, signal, this.#timeoutMs);
    if (response.statusCode !== 200) {
      const text = await readBody(response, 64 * 1024).catch(() => Buffer.alloc(0));
      throw statusError(path, response.statusCode ?? 0, text);
    }
    await new Promise<void>((resolve, reject) => {
      let pending = '';
      let idle: NodeJS.Timeout | undefined;
      const fail = (error: KubernetesApiError) => {
        clearTimeout(idle);
        signal.removeEventListener('abort', onAbort);
        response.destroy();
        reject(error);
      };
      const arm = () => {
        clearTimeout(idle);
        idle = setTimeout(
          () => fail(new KubernetesApiError(`${path}: no data for ${this.#idleMs} ms`, 0)),
          this.#idleMs,
        );
      };
      arm();
      function onAbort() {
        fail(new KubernetesApiError(`${path}: watch stopped`, 0));
      }
      signal.addEventListener('abort', onAbort, { once: true });
      response.setEncoding('utf8');
      response.on('data', (chunk: string) => {
        arm();
        pending += chunk;
        let newline;
        while ((newline = pending.indexOf('\n')) >= 0) {
          const line = pending.slice(0, newline).trim();
          pending = pending.slice(newline + 1);
          if (line === '') continue;
          try {
            const event = parseWatchLine(line, path);
            if (event) onEvent(event);
          } catch (error) {
            fail(error as KubernetesApiError);
            return;
          }
        }
        if (pending.length > API_LIMITS.watchLineBytes) {
          fail(
            new KubernetesApiError(`${path}: a watch event exceeds ${API_LIMITS.watchLineBytes} bytes`, 0),
          );
        }
      });
      response.on('end', () => {
        clearTimeout(idle);
        signal.removeEventListener('abort', onAbort);
        resolve();
      });
      response.on('error', (error) => {
        fail(new KubernetesApiError(`${path}: ${error.message}`, 0, { cause: error }));
      });
    });
  }

  async listWorkloads(resource: WorkloadResource): Promise<ResourceList<Record<string, unknown>>> {
    const base = WORKLOAD_RESOURCES[resource];
    const items: Record<string, unknown>[] = [];
    let resourceVersion = '';
    let next = '';
    do {
      const query = new URLSearchParams({
        limit: String(WORKLOAD_PAGE_SIZE),
        ...(next ? { continue: next } : {}),
      });
      const path = `${base}?${query}`;
      const body = await this.#get(path, API_LIMITS.listBytes);
      if (body === undefined) throw new KubernetesApiError(`${path}: not found`, 404);
      if (!isObject(body) || !Array.isArray(body.items)) {
        throw new KubernetesApiError(`${path}: the answer is not a list`, 0);
      }
      for (const item of body.items) if (isObject(item) && isObject(item.metadata)) items.push(item);
      if (items.length > API_LIMITS.maxListedObjects) {
        throw new KubernetesApiError(`${base}: more than ${API_LIMITS.maxListedObjects} objects`, 0);
      }
      const meta = isObject(body.metadata) ? body.metadata : {};
      if (typeof meta.resourceVersion === 'string') resourceVersion = meta.resourceVersion;
      next = typeof meta.continue === 'string' ? meta.continue : '';
    } while (next !== '');
    return { items, resourceVersion };
  }

  async #getObject<T>(path: string): Promise<T | undefined> {
    const body = await this.#get(path, API_LIMITS.objectBytes);
    if (body === undefined) return undefined;
    if (!isResource(body)) throw new KubernetesApiError(`${path}: the answer is not a Kubernetes object`, 0);
    return body as T;
  }

  /** JSON of a GET; undefined on 404. Bounded in time (whole request) and size. */
  async #get(path: string, maxBytes: number): Promise<unknown> {
    const signal = AbortSignal.timeout(this.#timeoutMs);
    let text: Buffer;
    let status: number;
    try {
      const response = await this.#open(path, signal, this.#timeoutMs);
      status = response.statusCode ?? 0;
      text = await readBody(response, maxBytes);
    } catch (error) {
      if (error instanceof KubernetesApiError) throw error;
      const why = signal.aborted ? `no answer within ${this.#timeoutMs} ms` : (error as Error).message;
      throw new KubernetesApiError(`${path}: ${why}`, 0, { cause: error });
    }
    if (status === 404) return undefined;
    if (status !== 200) throw statusError(path, status, text);
    try {
      return JSON.parse(text.toString('utf8'));
    } catch {
      throw new KubernetesApiError(`${path}: the answer is not JSON`, status);
    }
  }

  async #open(
    path: string,
    signal: AbortSignal,
    connectMs: number,
    write?: { readonly method: 'POST' | 'PUT'; readonly body: string },
  ): Promise<IncomingMessage> {
    const url = new URL(this.#server.pathname.replace(/\/$/, '') + path, this.#server);
    const options: RequestOptions & { rejectUnauthorized?: boolean } = {
      method: write?.method ?? 'GET',
      headers: {
        Accept: 'application/json',
        ...(write
          ? { 'Content-Type': 'application/json', 'Content-Length': Buffer.byteLength(write.body) }
          : {}),
      },
    };
    await this.#authorize(options);
    const send = url.protocol === 'http:' ? httpRequest : httpsRequest;
    return new Promise((resolve, reject) => {
      const req = send(url, { ...options, signal }, resolve);
      const connect = setTimeout(
        () => req.destroy(new KubernetesApiError(`${path}: no answer within ${connectMs} ms`, 0)),
        connectMs,
      );
      req.on('response', () => clearTimeout(connect));
      req.on('error', (error) => {
        clearTimeout(connect);
        reject(
          error instanceof KubernetesApiError
            ? error
            : new KubernetesApiError(
                `${path}: ${signal.aborted ? `no answer within ${connectMs} ms` : error.message}`,
                0,
                { cause: error },
              ),
        );
      });
      req.end(write?.body);
    });
  }
}

function policyPath(kind: PolicyResourceKind): string {
  return `/apis/${POLICY_GROUP}/${POLICY_VERSION}/${POLICY_PLURALS[kind]}`;
}

/** A path segment: names are DNS names; anything else is refused rather than escaped into a URL. */
function seg(name: string): string {
  if (!DNS_NAME.test(name))
    throw new KubernetesApiError(`${JSON.stringify(name)} is not a valid object name`, 0);
  return name;
}

function readBody(response: IncomingMessage, maxBytes: number): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    response.on('data', (chunk: Buffer) => {
      size += chunk.length;
      if (size > maxBytes) {
        response.destroy();
        reject(new KubernetesApiError(`the answer exceeds ${maxBytes} bytes`, 0));
      } else chunks.push(chunk);
    });
    response.on('end', () => resolve(Buffer.concat(chunks)));
    response.on('error', reject);
  });
}

function statusError(path: string, status: number, body: Buffer): KubernetesApiError {
  let message = '';
  try {
    const parsed: unknown = JSON.parse(body.toString('utf8'));
    if (isObject(parsed) && typeof parsed.message === 'string') message = parsed.message;
  } catch {
    // not a Status object
  }
  return new KubernetesApiError(`${path}: HTTP ${status}${message ? `: ${oneLine(message)}` : ''}`, status);
}

function parseWatchLine(line: string, path: string): WatchEvent<PolicyResource> | undefined {
  let parsed: unknown;
  try {
    parsed = JSON.parse(line);
  } catch {
    throw new KubernetesApiError(`${path}: a watch event is not JSON`, 0);
  }
  if (!isObject(parsed) || typeof parsed.type !== 'string') {
    throw new KubernetesApiError(`${path}: a watch event has no type`, 0);
  }
  const object = parsed.object;
  switch (parsed.type) {
    case 'ADDED':
    case 'MODIFIED':
    case 'DELETED':
      if (!isResource(object))
        throw new KubernetesApiError(`${path}: a ${parsed.type} event has no object`, 0);
      return { type: parsed.type, object };
    case 'BOOKMARK': {
      const rv = isResource(object) ? object.metadata.resourceVersion : undefined;
      return rv ? { type: 'BOOKMARK', resourceVersion: rv } : undefined;
    }
    case 'ERROR': {
      // A Status object; 410 Gone means our resourceVersion is too old.
      const status = isObject(object) && typeof object.code === 'number' ? object.code : 0;
      const message = isObject(object) && typeof object.message === 'string' ? object.message : 'watch error';
      throw new KubernetesApiError(`${path}: ${oneLine(message)}`, status);
    }
    default:
      return undefined;
  }
}

function isResource(value: unknown): value is PolicyResource {
  return isObject(value) && isObject(value.metadata) && typeof value.metadata.name === 'string';
}

function oneLine(text: string): string {
  const line = text.replace(/[\s\p{Cc}]+/gu, ' ').trim();
  return line.length > 300 ? `${line.slice(0, 300)}…` : line;
}
