/**
 * A THIN STUB of the Kubernetes API server, for tests only: no kube-apiserver can run here.
 *
 * It serves, over HTTPS on 127.0.0.1 (a test CA, given in the kubeconfig it writes), the shapes a real API server returns (taken from
 * `kubectl get -o json` and `kubectl get --raw '...?watch=true'` output of a v1.31 cluster): Secret,
 * ServiceAccount, Namespace, 404 Status, lists with `metadata.resourceVersion`, and watch streams of
 * newline-delimited `{"type","object"}` events, including `ERROR` with a 410 Gone Status. It checks the
 * bearer token from the kubeconfig it writes. It does NOT implement admission, RBAC, field selectors or
 * anything else of a real API server.
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

  const handle = (req: IncomingMessage, res: ServerResponse) => {
    requests.push(req.url ?? '');
    if (down)
      return status(res, 503, 'ServiceUnavailable', 'the server is currently unable to handle the request');
    if (req.headers.authorization !== `Bearer ${TOKEN}`)
      return status(res, 401, 'Unauthorized', 'Unauthorized');
    const url = new URL(req.url ?? '/', 'http://stub');
    const path = url.pathname;
    const list = /^\/apis\/portcullis\.dev\/v1alpha1\/(imagepolicies|namespacedimagepolicies)$/.exec(path);
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
      const kind = plural === 'imagepolicies' ? 'ImagePolicyList' : 'NamespacedImagePolicyList';
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end(
        JSON.stringify({
          apiVersion: 'portcullis.dev/v1alpha1',
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
    async close() {
      for (const w of watchers) w.res.destroy();
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}
