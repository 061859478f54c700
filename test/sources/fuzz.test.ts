import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { extractImages } from '../../src/sources/index.ts';
import type { ExtractionResult } from '../../src/sources/index.ts';

const MANIFEST = `apiVersion: apps/v1
kind: Deployment
metadata: {name: web, namespace: prod}
spec:
  template:
    spec:
      initContainers:
      - {name: init, image: "busybox:1.36"}
      containers:
      - name: app
        image: ghcr.io/acme/app:1@sha256:14c2529eb4498c5d1ffd6915d05bf58a91bdda796af59f41d480d11c099d0479
      volumes:
      - name: v
        image: {reference: ghcr.io/acme/data:1}
`;
const DOCKERFILE = [
  '# escape=\\',
  'ARG BASE=alpine TAG',
  'FROM --platform=$BUILDPLATFORM ${BASE}:${V:-3} AS build',
  'COPY --from=ghcr.io/acme/x:1 \\',
  '  /a /b',
  'RUN <<EOF',
  'FROM x',
  'EOF',
  'FROM build',
  '',
].join('\n');

function wellFormed(text: string, result: ExtractionResult): void {
  const lines = text.split('\n').length;
  for (const { source } of result.images) {
    assert.ok(source.line >= 1 && source.line <= lines, `line ${source.line}`);
    assert.ok(source.column >= 1, `column ${source.column}`);
  }
  for (const problem of result.problems) {
    assert.equal(typeof problem.message, 'string');
    if (problem.line !== undefined) assert.ok(problem.line >= 1 && (problem.column ?? 1) >= 1);
  }
}

const SYNTAX = fc.constantFrom(...' \n\t:-[]{}"\'&*!|>#$\\`<,?%@');

/** Random edits (insert, delete, replace) of a valid input keep it close to the parsers' interesting paths. */
const mutated = (base: string): fc.Arbitrary<string> =>
  fc
    .array(fc.tuple(fc.nat(base.length), fc.nat(4), fc.string({ maxLength: 4, unit: SYNTAX })), {
      maxLength: 8,
    })
    .map((edits) =>
      edits.reduce(
        (text, [at, remove, insert]) => text.slice(0, at) + insert + text.slice(at + remove),
        base,
      ),
    );

void test('extraction never throws and always reports positions inside the input (YAML)', () => {
  const inputs = fc.oneof(
    mutated(MANIFEST),
    fc.string({ maxLength: 200 }),
    fc.string({ unit: 'binary', maxLength: 200 }),
  );
  fc.assert(
    fc.property(inputs, (text) => {
      for (const name of ['x.yaml', 'x.json', '-']) wellFormed(text, extractImages(name, text));
    }),
    { numRuns: 400 },
  );
});

void test('extraction never throws and always reports positions inside the input (Dockerfile)', () => {
  fc.assert(
    fc.property(fc.oneof(mutated(DOCKERFILE), fc.string({ maxLength: 200 })), (text) => {
      wellFormed(text, extractImages('Dockerfile', text));
    }),
    { numRuns: 400 },
  );
});

void test('comments and blank lines before a manifest move its images by as many lines and change nothing else', () => {
  fc.assert(
    fc.property(fc.array(fc.constantFrom('', '# comment', '   '), { maxLength: 5 }), (prefix) => {
      const text = prefix.map((line) => `${line}\n`).join('') + MANIFEST;
      const result = extractImages('x.yaml', text);
      assert.deepEqual(result.problems, []);
      assert.equal(result.images.length, 3);
      assert.equal(result.images[1]?.source.line, 11 + prefix.length);
    }),
  );
});
