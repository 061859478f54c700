/**
 * CloudEvents delivery against a loopback HTTP receiver: retries on 5xx, no retry on 4xx, and a bounded
 * queue that drops (and says so) rather than grows.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { CloudEventNotifier, VIOLATION_TYPE } from '../../src/controller/notify.ts';

let server: Server;
let url: string;
/** Statuses to answer, in order; 202 once exhausted. */
let script: number[] = [];
let bodies: Record<string, unknown>[] = [];

before(async () => {
  server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      bodies.push(JSON.parse(Buffer.concat(chunks).toString('utf8')) as Record<string, unknown>);
      res.writeHead(script.shift() ?? 202).end();
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/events`;
});
after(() => new Promise<void>((r) => server.close(() => r())));

function notifier(extra: { attempts?: number; maxQueue?: number } = {}) {
  const lost: string[] = [];
  const n = new CloudEventNotifier({
    url,
    allowHttp: true,
    backoffMs: 1,
    onFailure: (_e, why) => lost.push(why),
    ...extra,
  });
  return { n, lost };
}

test('a 503 is retried and the same event (same id) is delivered', async () => {
  script = [503, 503];
  bodies = [];
  const { n, lost } = notifier();
  const sent = n.send(VIOLATION_TYPE, 'shop/Deployment/web', { image: 'x' });
  await n.flush();
  assert.deepEqual(lost, []);
  assert.equal(bodies.length, 3);
  assert.ok(bodies.every((b) => b.id === sent.id));
  assert.deepEqual(n.stats, { sent: 1, failed: 0, dropped: 0 });
});

test('a 400 is final: no retry, the loss is reported', async () => {
  script = [400];
  bodies = [];
  const { n, lost } = notifier();
  n.send(VIOLATION_TYPE, 'shop/Deployment/web', {});
  await n.flush();
  assert.equal(bodies.length, 1);
  assert.match(lost[0]!, /answered HTTP 400/);
  assert.deepEqual(n.stats, { sent: 0, failed: 1, dropped: 0 });
});

test('retries end after the configured attempts', async () => {
  script = [500, 500, 500];
  bodies = [];
  const { n, lost } = notifier({ attempts: 3 });
  n.send(VIOLATION_TYPE, 's', {});
  await n.flush();
  assert.equal(bodies.length, 3);
  assert.match(lost[0]!, /HTTP 500 \(after 3 attempts\)$/);
});

test('past the queue bound new events are dropped, never queued', async () => {
  script = [];
  bodies = [];
  const { n, lost } = notifier({ maxQueue: 2 });
  // The first is taken off the queue by the sender at once; two more fill it; the rest are dropped.
  for (let i = 0; i < 6; i++) n.send(VIOLATION_TYPE, `s${i}`, {});
  await n.flush();
  assert.equal(n.stats.sent + n.stats.dropped, 6);
  assert.ok(n.stats.dropped >= 3, JSON.stringify(n.stats));
  assert.ok(lost.every((why) => /queue is full \(2\): dropped/.test(why)));
});
