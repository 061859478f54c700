/** Pinning and the bounded text of responses, without a server. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { pinAllowed, pinTarget, type PinTarget } from '../../src/webhook/mutate.ts';
import {
  formatDenial,
  formatWarnings,
  WARNING_MAX_RUNES,
  WARNINGS_TOTAL_RUNES,
} from '../../src/webhook/messages.ts';
import { admit, parseAdmissionReview } from '../../src/webhook/admission.ts';
import type { Decision } from '../../src/engine/decision.ts';
import type { Engine } from '../../src/webhook/engine.ts';
import type { PolicySet } from '../../src/policy/model.ts';
import { canonical, parseReference } from '../../src/reference/index.ts';
import { admissionReview, pod } from './support.ts';

const A = 'sha256:' + 'a'.repeat(64);
const B = 'sha256:' + 'b'.repeat(64);

const allowed = (image: string, digest?: string): Decision => ({
  image,
  reference: canonical(parseReference(image)),
  ...(digest ? { digest } : {}),
  allowed: true,
  outcome: 'allow',
  mode: 'enforce',
  policies: [],
  reasons: [],
  warnings: [],
});

const pinned = (image: string, decision: Decision) => pinTarget(image, { decision })?.pinned;

test('pinning keeps the tag and spells the registry out, like policy-controller', () => {
  assert.equal(pinned('nginx', allowed('nginx', A)), `docker.io/library/nginx:latest@${A}`);
  assert.equal(pinned('ghcr.io/acme/api:1', allowed('ghcr.io/acme/api:1', A)), `ghcr.io/acme/api:1@${A}`);
});

test('nothing is pinned without a resolved digest, when a digest is written, or from another decision', () => {
  assert.equal(pinTarget('x:1', undefined), undefined);
  assert.equal(pinTarget('x:1', { error: 'deadline' }), undefined);
  assert.equal(pinned('x:1', allowed('x:1')), undefined);
  assert.equal(pinned(`x:1@${A}`, allowed(`x:1@${A}`, A)), undefined);
  // A decision about another reference is never used to pin this one.
  assert.equal(pinned('x:1', allowed('x:2', B)), undefined);
});

test('the pin needs the pinned reference allowed, with the same digest', () => {
  const target: PinTarget = { pinned: `docker.io/library/x:1@${A}`, digest: A };
  assert.equal(pinAllowed(target, { decision: allowed(target.pinned, A) }), true);
  assert.equal(
    pinAllowed(target, { decision: { ...allowed(target.pinned, A), allowed: false, outcome: 'deny' } }),
    false,
  );
  assert.equal(pinAllowed(target, { decision: allowed(target.pinned, B) }), false);
  assert.equal(pinAllowed(target, { error: 'deadline' }), false);
  assert.equal(pinAllowed(target, undefined), false);
});

test('a Pod UPDATE pins only the images it changes (re-pinning the others would restart them)', async () => {
  const old = pod('p', `ghcr.io/acme/keep:1`) as { spec: { containers: { name: string; image: string }[] } };
  const now = structuredClone(old);
  now.spec.containers.push({ name: 'new', image: 'ghcr.io/acme/new:2' });
  const engine: Engine = {
    policySet: { policies: [], noMatch: 'allow', version: 'sha256:x' } as PolicySet,
    decider: { decide: async (image) => allowed(image, A) },
  };
  const { review } = await admit(
    parseAdmissionReview(admissionReview(now, { operation: 'UPDATE', oldObject: old })),
    'mutate',
    {
      engine: () => engine,
      deadlineMs: 1000,
      pin: true,
    },
  );
  assert.equal(review.response.allowed, true);
  assert.deepEqual(JSON.parse(Buffer.from(review.response.patch!, 'base64').toString()), [
    { op: 'replace', path: '/spec/containers/1/image', value: `ghcr.io/acme/new:2@${A}` },
  ]);
});

test('warnings stay inside the API server limits: printable, 256 runes each, 4096 in all', () => {
  const long = 'é'.repeat(1000);
  const out = formatWarnings([
    `a\nb\u001b[0m`,
    long,
    ...Array.from({ length: 40 }, (_, i) => `${i} ${'w'.repeat(200)}`),
  ]);
  assert.equal(out[0], 'a b [0m');
  assert.equal(Array.from(out[1]!).length, WARNING_MAX_RUNES);
  assert.ok(out[1]!.endsWith('…'));
  const total = out.reduce((n, w) => n + Array.from(w).length, 0);
  assert.ok(total <= WARNINGS_TOTAL_RUNES, `total ${total}`);
  assert.match(out.at(-1)!, /^\d+ more warning\(s\) not shown; see the Portcullis audit log$/);
  assert.deepEqual(formatWarnings(['same', 'same']), ['same']);
});

test('denials: at most 50 lines, the rest counted', () => {
  const message = formatDenial(Array.from({ length: 60 }, (_, i) => `line ${i}`));
  const lines = message.split('\n');
  assert.equal(lines.length, 51);
  assert.equal(lines.at(-1), '10 more denied image(s) not shown; see the Portcullis audit log');
});
