/**
 * A THIN STUB of the Kubernetes API server, for tests only: no kube-apiserver can run here.
 *
 * It serves, over HTTPS on 127.0.0.1 (a test CA, given in the kubeconfig it writes), the shapes a real API server returns (taken from
 * `kubectl get -o json` and `kubectl get --raw '...?watch=true'` output of a v1.31 cluster): Secret,
 * ServiceAccount, Namespace, 404 Status, lists with `metadata.resourceVersion`, and watch streams of
 * newline-delimited `{"type","object"}` events, including `ERROR` with a 410 Gone Status. It checks the
 * bearer token from the kubeconfig it writes. It does NOT implement admission, RBAC, field selectors or
 * anything else of a real API server.
 *
 * For the controller it also serves Pods (list across namespaces, watch), accepts POST/PUT of
 * `wgpolicyk8s.io/v1alpha2` PolicyReports and ClusterPolicyReports (PUT must carry the stored
 * resourceVersion, else 409 Conflict, as a real server does), and POST of core/v1 Events (kept in order).
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import { createServer, type Server } from 'node:https';
import { readFileSync } from 'node:fs';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { AddressInfo } from 'node:net';
import { makeCa } from '../webhook/tls.ts';

type Json = Record<string, unknown>;

const TOKEN = 'stub-service-account-token';

export interface StubApiServer {
  readonly url: string;
  /** Every request path seen (with query). */
  readonly requests: string[];
  /** Writes a kubeconfig for this server into DIR and returns its path. */
  writeKubeconfig(dir: string): Promise<string>;
  putSecret(namespace: string, name: string, type: string, data: Record<string, string>): void;
  putServiceAccount(namespace: string, name: string, imagePullSecrets: string[]): void;
  putNamespace(name: string, labels: Record<string, string>): void;
  /** Adds or replaces an ImagePolicy (cluster-scoped) or NamespacedImagePolicy; watchers get the event. */
  putPolicy(
    kind: 'ImagePolicy' | 'NamespacedImagePolicy',
    name: string,
    spec: unknown,
    namespace?: string,
  ): void;
  deletePolicy(kind: 'ImagePolicy' | 'NamespacedImagePolicy', name: string, namespace?: string): void;
  /** The next watch of this kind at an older version gets `ERROR 410 Gone` (etcd compaction). */
  compact(): void;
  /** Ends all open watch streams (the server's timeoutSeconds). */
  endWatches(): void;
  /** While down, every request is answered 503 (as an overloaded or restarting API server). */
  setDown(down: boolean): void;
  /** Watches currently open. */
  watchCount(): number;
  /** Adds or replaces a Pod (spec as given); pod watchers get the event. */
  putPod(
    namespace: string,
    name: string,
    spec: unknown,
    owner?: { kind: string; name: string; apiVersion?: string },
    labels?: Record<string, string>,
  ): void;
  deletePod(namespace: string, name: string): void;
  /** A stored PolicyReport (with namespace) or ClusterPolicyReport (without). */
  report(name: string, namespace?: string): Json | undefined;
  /** Any stored object by its API path (a Lease, say). */
  object(path: string): Json | undefined;
  /** Events POSTed so far, in order. */
  readonly events: Json[];
  close(): Promise<void>;
}

interface Stored {
  kind: string;
  object: Json;
}

export async function startStubApiServer(): Promise<StubApiServer> {
  let rv = 1000;
  let compactedBelow = 0;
  let down = false;
  const objects = new Map<string, Stored>();
  const history: { rv: number; plural: string; type: string; object: Json }[] = [];
  const watchers = new Set<{ plural: string; res: ServerResponse }>();
  const requests: string[] = [];

  const meta = (name: string, namespace?: string, extra: Json = {}) => ({
    name,
    ...(namespace ? { namespace } : {}),
    uid: `0b6a3f5e-${String(rv).padStart(4, '0')}-4c1e-9d7a-5b3c2e1f0a9d`,
    resourceVersion: String(++rv),
    creationTimestamp: '2026-11-27T10:00:00Z',
    ...extra,
  });
  const put = (path: string, kind: string, object: Json) => objects.set(path, { kind, object });

  const policyPath = (plural: string, name: string, namespace?: string) =>
    namespace
      ? `/apis/portcullis.dev/v1alpha1/namespaces/${namespace}/${plural}/${name}`
      : `/apis/portcullis.dev/v1alpha1/${plural}/${name}`;
  const plurals = { ImagePolicy: 'imagepolicies', NamespacedImagePolicy: 'namespacedimagepolicies' } as const;

  const emit = (plural: string, type: string, object: Json) => {
    history.push({ rv: Number((object.metadata as Json).resourceVersion), plural, type, object });
    for (const w of watchers) if (w.plural === plural) w.res.write(JSON.stringify({ type, object }) + '\n');
  };

  const status = (res: ServerResponse, code: number, reason: string, message: string) => {
    res.writeHead(code, { 'content-type': 'application/json' });
    res.end(
      JSON.stringify({
        kind: 'Status',
        apiVersion: 'v1',
        metadata: {},
        status: 'Failure',
        message,
        reason,
        code,
      }),
    );
  };

  const events: Json[] = [];
  const reportPath = (name: string, namespace?: string) =>
    namespace
      ? `/apis/wgpolicyk8s.io/v1alpha2/namespaces/${namespace}/policyreports/${name}`
      : `/apis/wgpolicyk8s.io/v1alpha2/clusterpolicyreports/${name}`;

  /** POST/PUT: reports, Leases (leader election) and events only. */
  const write = (req: IncomingMessage, res: ServerResponse, path: string, body: Json) => {
    const json = (code: number, object: Json) => {
      res.writeHead(code, { 'content-type': 'application/json' });
      res.end(JSON.stringify(object));
    };
    const metadata = (body.metadata ?? {}) as Json;
    const eventsAt = /^\/api\/v1\/namespaces\/([^/]+)\/events$/.exec(path);
    if (req.method === 'POST' && eventsAt) {
      const stored = { ...body, metadata: { ...metadata, ...meta(`event-${events.length}`, eventsAt[1]) } };
      events.push(stored);
      return json(201, stored);
    }
    const collection =
      /^\/apis\/wgpolicyk8s\.io\/v1alpha2\/(?:namespaces\/([^/]+)\/policyreports|clusterpolicyreports)(?:\/([^/]+))?$/.exec(
        path,
      );
    const leases = /^\/apis\/coordination\.k8s\.io\/v1\/namespaces\/([^/]+)\/leases(?:\/([^/]+))?$/.exec(
      path,
    );
    if (!collection && !leases)
      return status(res, 404, 'NotFound', `the server could not find the requested resource`);
    const [, namespace, named] = (collection ?? leases)!;
    const name = String(metadata.name ?? '');
    if (req.method === 'POST' && named === undefined) {
      const target = leases ? `${path}/${name}` : reportPath(name, namespace);
      if (objects.has(target)) return status(res, 409, 'AlreadyExists', `"${name}" already exists`);
      const stored = { ...body, metadata: { ...metadata, ...meta(name, namespace) } };
      put(target, String(body.kind), stored);
      return json(201, stored);
    }
    if (req.method === 'PUT' && named === name) {
      const existing = objects.get(path);
      if (!existing) return status(res, 404, 'NotFound', `"${name}" not found`);
      const currentRv = (existing.object.metadata as Json).resourceVersion;
      if (metadata.resourceVersion !== currentRv)
        return status(
          res,
          409,
          'Conflict',
          'the object has been modified; please apply your changes to the latest version and try again',
        );
      const stored = { ...body, metadata: { ...metadata, ...meta(name, namespace) } };
      put(path, String(body.kind), stored);
      return json(200, stored);
    }
    return status(res, 405, 'MethodNotAllowed', `${req.method} is not supported by the stub on ${path}`);
  };

  const handle = (req: IncomingMessage, res: ServerResponse) => {
    requests.push(req.url ?? '');
    if (req.method === 'POST' || req.method === 'PUT') {
      if (down)
        return status(res, 503, 'ServiceUnavailable', 'the server is currently unable to handle the request');
      if (req.headers.authorization !== `Bearer ${TOKEN}`)
        return status(res, 401, 'Unauthorized', 'Unauthorized');
      const chunks: Buffer[] = [];
      req.on('data', (c: Buffer) => chunks.push(c));
      req.on('end', () => {
        let body: Json;
        try {
          body = JSON.parse(Buffer.concat(chunks).toString('utf8')) as Json;
        } catch {
          return status(res, 400, 'BadRequest', 'the body is not JSON');
        }
        write(req, res, new URL(req.url ?? '/', 'http://stub').pathname, body);
      });
      return;
    }
    if (down)
      return status(res, 503, 'ServiceUnavailable', 'the server is currently unable to handle the request');
    if (req.headers.authorization !== `Bearer ${TOKEN}`)
      return status(res, 401, 'Unauthorized', 'Unauthorized');
    const url = new URL(req.url ?? '/', 'http://stub');
    const path = url.pathname;
    const list =
      /^\/apis\/portcullis\.dev\/v1alpha1\/(imagepolicies|namespacedimagepolicies)$/.exec(path) ??
      /^\/api\/v1\/(pods)$/.exec(path);
    if (list) {
      const plural = list[1]!;
      if (url.searchParams.get('watch') === 'true') {
        const from = Number(url.searchParams.get('resourceVersion') ?? '0');
        res.writeHead(200, { 'content-type': 'application/json', 'transfer-encoding': 'chunked' });
        if (from < compactedBelow) {
          res.end(
            JSON.stringify({
              type: 'ERROR',
              object: {
                kind: 'Status',
                apiVersion: 'v1',
                metadata: {},
                status: 'Failure',
                message: `too old resource version: ${from} (${compactedBelow})`,
                reason: 'Expired',
                code: 410,
              },
            }) + '\n',
          );
          return;
        }
        for (const h of history) {
          if (h.plural === plural && h.rv > from)
            res.write(JSON.stringify({ type: h.type, object: h.object }) + '\n');
        }
        const w = { plural, res };
        watchers.add(w);
        res.on('close', () => watchers.delete(w));
        return;
      }
      const items = [...objects.entries()]
        .filter(([p]) => p.includes(`/${plural}/`))
        .map(([, s]) => s.object);
      const kind =
        plural === 'pods'
          ? 'PodList'
          : plural === 'imagepolicies'
            ? 'ImagePolicyList'
            : 'NamespacedImagePolicyList';
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end(
        JSON.stringify({
          apiVersion: plural === 'pods' ? 'v1' : 'portcullis.dev/v1alpha1',
          kind,
          metadata: { continue: '', resourceVersion: String(rv) },
          items,
        }),
      );
      return;
    }
    const found = objects.get(path);
    if (!found) {
      const m = /\/([a-z]+)\/([^/]+)$/.exec(path);
      return status(res, 404, 'NotFound', `${m?.[1] ?? 'object'} "${m?.[2] ?? ''}" not found`);
    }
    res.writeHead(200, { 'content-type': 'application/json' });
    res.end(JSON.stringify(found.object));
  };

  const ca = makeCa();
  const cert = ca.issue('stub-apiserver');
  const server: Server = createServer(
    { cert: readFileSync(cert.certFile), key: readFileSync(cert.keyFile) },
    handle,
  );
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const url = `https://127.0.0.1:${(server.address() as AddressInfo).port}`;

  return {
    url,
    requests,
    async writeKubeconfig(dir) {
      const file = join(dir, 'kubeconfig');
      await writeFile(
        file,
        [
          'apiVersion: v1',
          'kind: Config',
          'clusters:',
          `- name: stub`,
          `  cluster: {server: "${url}", certificate-authority-data: ${Buffer.from(ca.caPem).toString('base64')}}`,
          'users:',
          `- name: portcullis`,
          `  user: {token: ${TOKEN}}`,
          'contexts:',
          '- name: stub',
          '  context: {cluster: stub, user: portcullis, namespace: portcullis-system}',
          'current-context: stub',
          '',
        ].join('\n'),
      );
      return file;
    },
    putSecret(namespace, name, type, data) {
      put(`/api/v1/namespaces/${namespace}/secrets/${name}`, 'Secret', {
        apiVersion: 'v1',
        kind: 'Secret',
        metadata: meta(name, namespace),
        type,
        data: Object.fromEntries(
          Object.entries(data).map(([k, v]) => [k, Buffer.from(v).toString('base64')]),
        ),
      });
    },
    putServiceAccount(namespace, name, imagePullSecrets) {
      put(`/api/v1/namespaces/${namespace}/serviceaccounts/${name}`, 'ServiceAccount', {
        apiVersion: 'v1',
        kind: 'ServiceAccount',
        metadata: meta(name, namespace),
        ...(imagePullSecrets.length > 0
          ? { imagePullSecrets: imagePullSecrets.map((n) => ({ name: n })) }
          : {}),
      });
    },
    putNamespace(name, labels) {
      put(`/api/v1/namespaces/${name}`, 'Namespace', {
        apiVersion: 'v1',
        kind: 'Namespace',
        metadata: meta(name, undefined, { labels: { 'kubernetes.io/metadata.name': name, ...labels } }),
        spec: { finalizers: ['kubernetes'] },
        status: { phase: 'Active' },
      });
    },
    putPolicy(kind, name, spec, namespace) {
      const plural = plurals[kind];
      const path = policyPath(plural, name, namespace);
      const existed = objects.has(path);
      const object = {
        apiVersion: 'portcullis.dev/v1alpha1',
        kind,
        metadata: { ...meta(name, namespace), generation: 1 },
        spec,
      };
      put(path, kind, object);
      emit(plural, existed ? 'MODIFIED' : 'ADDED', object);
    },
    deletePolicy(kind, name, namespace) {
      const plural = plurals[kind];
      const path = policyPath(plural, name, namespace);
      const stored = objects.get(path);
      if (!stored) return;
      objects.delete(path);
      const object = {
        ...stored.object,
        metadata: { ...(stored.object.metadata as Json), resourceVersion: String(++rv) },
      };
      emit(plural, 'DELETED', object);
    },
    compact() {
      compactedBelow = rv + 1;
      history.length = 0;
    },
    endWatches() {
      for (const w of watchers) w.res.end();
      watchers.clear();
    },
    setDown(value) {
      down = value;
      if (value) {
        for (const w of watchers) w.res.destroy();
        watchers.clear();
      }
    },
    watchCount: () => watchers.size,
    putPod(namespace, name, spec, owner, labels) {
      const path = `/api/v1/namespaces/${namespace}/pods/${name}`;
      const existed = objects.has(path);
      const ownerReferences = owner
        ? [
            {
              apiVersion: owner.apiVersion ?? 'apps/v1',
              kind: owner.kind,
              name: owner.name,
              uid: `owner-${owner.kind.toLowerCase()}-${owner.name}`,
              controller: true,
              blockOwnerDeletion: true,
            },
          ]
        : undefined;
      const object = {
        apiVersion: 'v1',
        kind: 'Pod',
        metadata: meta(name, namespace, {
          ...(ownerReferences ? { ownerReferences } : {}),
          ...(labels ? { labels } : {}),
        }),
        spec,
        status: { phase: 'Running' },
      };
      put(path, 'Pod', object);
      emit('pods', existed ? 'MODIFIED' : 'ADDED', object);
    },
    deletePod(namespace, name) {
      const path = `/api/v1/namespaces/${namespace}/pods/${name}`;
      const stored = objects.get(path);
      if (!stored) return;
      objects.delete(path);
      const object = {
        ...stored.object,
        metadata: { ...(stored.object.metadata as Json), resourceVersion: String(++rv) },
      };
      emit('pods', 'DELETED', object);
    },
    report: (name, namespace) => objects.get(reportPath(name, namespace))?.object,
    object: (path) => objects.get(path)?.object,
    events,
    async close() {
      for (const w of watchers) w.res.destroy();
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}
