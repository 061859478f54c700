/**
 * Leader election on a Lease through the real API client, against the THIN STUB of the Kubernetes API
 * server (test/kubernetes/stub-apiserver.ts: Leases with resourceVersion conflicts; no kube-apiserver
 * runs here). The property under test: never two leaders, and a successor once the leader is gone.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createKubernetesApi, type LeaseApi } from '../../src/kubernetes/api.ts';
import { LeaderElector } from '../../src/controller/leader.ts';
import { startStubApiServer, type StubApiServer } from '../kubernetes/stub-apiserver.ts';

let stub: StubApiServer;
let dir: string;
let api: LeaseApi;

before(async () => {
  stub = await startStubApiServer();
  dir = await mkdtemp(join(tmpdir(), 'portcullis-leader-'));
  api = createKubernetesApi({ kubeconfig: await stub.writeKubeconfig(dir) });
});

after(async () => {
  await stub?.close();
  if (dir) await rm(dir, { recursive: true, force: true });
});

/**
 * Candidates on one lease, recording who leads when; `partitioned` cuts one off from the API, `hung`
 * leaves its calls unanswered until `answer()` (an API server that accepts and never replies).
 */
function candidates(lease: string, names: string[]) {
  const leading = new Set<string>();
  let most = 0;
  const led: string[] = [];
  const partitioned = new Set<string>();
  const hung = new Set<string>();
  let waiting: (() => void)[] = [];
  const stuck = <T>(name: string, call: () => Promise<T>): Promise<T> =>
    hung.has(name)
      ? new Promise<void>((r) => waiting.push(r)).then(() => Promise.reject(new Error('timed out')))
      : call();
  const stops = new Map<string, AbortController>();
  const runs = names.map((name) => {
    const stop = new AbortController();
    stops.set(name, stop);
    const through: LeaseApi = {
      getLease: (ns, n) =>
        partitioned.has(name)
          ? Promise.reject(new Error('connection refused'))
          : stuck(name, () => api.getLease(ns, n)),
      writeLease: (l) =>
        partitioned.has(name)
          ? Promise.reject(new Error('connection refused'))
          : stuck(name, () => api.writeLease(l)),
    };
    // A renewal that takes longer than renewDeadlineMs makes a leader step down (rightly): the deadline is
    // wide enough that a loaded test machine does not do that before the test cuts the leader off.
    const elector = new LeaderElector({
      api: through,
      namespace: 'portcullis',
      name: lease,
      identity: name,
      leaseDurationMs: 2_500,
      renewDeadlineMs: 1_200,
      retryPeriodMs: 100,
    });
    return elector.run(stop.signal, async (signal) => {
      leading.add(name);
      led.push(name);
      most = Math.max(most, leading.size);
      await new Promise<void>((r) => signal.addEventListener('abort', () => r(), { once: true }));
      leading.delete(name);
    });
  });
  return {
    leading,
    led,
    most: () => most,
    partitioned,
    hung,
    answer: () => {
      for (const r of waiting) r();
      waiting = [];
    },
    stop: (name: string) => stops.get(name)!.abort(),
    done: () => Promise.all(runs),
  };
}

async function until(what: string, ok: () => boolean): Promise<void> {
  for (let i = 0; i < 200; i++) {
    if (ok()) return;
    await new Promise((r) => setTimeout(r, 25));
  }
  assert.fail(`timed out waiting for ${what}`);
}

test('one leader among three; a stopped leader hands the lease over at once', async () => {
  const c = candidates('handover', ['a', 'b', 'c']);
  await until('a leader', () => c.leading.size === 1);
  const first = [...c.leading][0]!;
  // Stay a while: the others keep polling and must not take over a lease that is being renewed.
  await new Promise((r) => setTimeout(r, 600));
  assert.deepEqual([...c.leading], [first]);
  c.stop(first);
  await until('a successor', () => c.leading.size === 1 && !c.leading.has(first));
  const lease = await api.getLease('portcullis', 'handover');
  assert.equal(lease?.spec?.holderIdentity, [...c.leading][0]);
  assert.equal(lease?.spec?.leaseTransitions, 1);
  assert.match(String(lease?.spec?.renewTime), /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}Z$/);
  for (const name of ['a', 'b', 'c']) c.stop(name);
  await c.done();
  assert.equal(c.most(), 1);
  // The last leader released it on the way out: free for the next process.
  assert.equal((await api.getLease('portcullis', 'handover'))?.spec?.holderIdentity, '');
});

test('a leader cut off from the API stops leading before anyone else can take the lease', async () => {
  const c = candidates('partition', ['x', 'y']);
  await until('a leader', () => c.leading.size === 1);
  const first = [...c.leading][0]!;
  const other = first === 'x' ? 'y' : 'x';
  c.partitioned.add(first);
  await until('the cut-off leader to step down', () => !c.leading.has(first));
  await until('the other to lead', () => c.leading.has(other));
  assert.equal(c.most(), 1);
  // Back on the network, the old leader waits: the lease is the other's now.
  c.partitioned.delete(first);
  await new Promise((r) => setTimeout(r, 400));
  assert.deepEqual([...c.leading], [other]);
  c.stop('x');
  c.stop('y');
  await c.done();
  assert.equal(c.most(), 1);
  assert.deepEqual(c.led, [first, other]);
});

test('a leader whose API calls hang stops leading before anyone else can take the lease', async () => {
  const c = candidates('hang', ['p', 'q']);
  await until('a leader', () => c.leading.size === 1);
  const first = [...c.leading][0]!;
  const other = first === 'p' ? 'q' : 'p';
  c.hung.add(first);
  // Its renewal never answers: the deadline, not the answer, must make it step down.
  await until('the stuck leader to step down', () => !c.leading.has(first));
  await until('the other to lead', () => c.leading.has(other));
  assert.equal(c.most(), 1);
  c.hung.delete(first);
  c.answer();
  c.stop('p');
  c.stop('q');
  await c.done();
  assert.equal(c.most(), 1);
  assert.deepEqual(c.led, [first, other]);
});

test('bad timings are refused', () => {
  assert.throws(
    () =>
      new LeaderElector({
        api,
        namespace: 'p',
        name: 'l',
        identity: 'i',
        leaseDurationMs: 1_000,
        renewDeadlineMs: 2_000,
      }),
    /retryPeriod < renewDeadline < leaseDuration/,
  );
});
