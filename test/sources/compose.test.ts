import { test } from 'node:test';
import assert from 'node:assert/strict';
import { extractImages } from '../../src/sources/index.ts';
import { brief } from './helpers.ts';

void test('Compose: services.<name>.image with service name and container_name; build-only services skipped', () => {
  const text = `name: shop
services:
  web:
    image: ghcr.io/acme/web:2.0.0
    container_name: shop-web
  db:
    image: 'postgres:16'
  worker:
    build: .
  empty:
`;
  const result = extractImages('docker-compose.yml', text);
  assert.deepEqual(result.problems, []);
  assert.deepEqual(result.images, [
    {
      image: 'ghcr.io/acme/web:2.0.0',
      source: {
        file: 'docker-compose.yml',
        line: 4,
        column: 12,
        format: 'compose',
        name: 'web',
        documentIndex: 0,
        path: 'services.web.image',
        container: 'shop-web',
      },
    },
    {
      image: 'postgres:16',
      source: {
        file: 'docker-compose.yml',
        line: 7,
        column: 12,
        format: 'compose',
        name: 'db',
        documentIndex: 0,
        path: 'services.db.image',
      },
    },
  ]);
});

void test('Compose: merge keys from extension fields, and interpolation kept as written with a note', () => {
  const text = `x-app: &app
  image: ghcr.io/acme/app:\${TAG:-1.0}
  restart: always
services:
  a:
    <<: *app
  b:
    <<: *app
    image: ghcr.io/acme/other:1
`;
  const result = extractImages('compose.yaml', text);
  assert.deepEqual(result.problems, []);
  assert.deepEqual(brief(result), [
    { image: 'ghcr.io/acme/app:${TAG:-1.0}', path: 'services.a.image', at: '2:10' },
    { image: 'ghcr.io/acme/other:1', path: 'services.b.image', at: '9:12' },
  ]);
  assert.equal(
    result.images[0]?.note,
    'contains Compose variable interpolation, which is not substituted: the image used depends on the environment',
  );
  assert.equal(result.images[1]?.note, undefined);
});

void test('Compose in JSON', () => {
  const text = '{"services": {"api": {"image": "api:1"}}}';
  assert.deepEqual(brief(extractImages('compose.json', text)), [
    { image: 'api:1', path: 'services.api.image', at: '1:32' },
  ]);
});

void test('Compose: wrong types are problems with positions', () => {
  const cases: [string, string, number, number][] = [
    ['services: [web]\n', 'services must be a mapping of service names to services, got a list', 1, 11],
    ['services:\n  web: nginx\n', 'services.web must be a mapping, got a string', 2, 8],
    ['services:\n  web:\n    image: 7\n', 'services.web.image must be a string, got a number (7)', 3, 12],
    ['services:\n  web:\n    image: [a, b]\n', 'services.web.image must be a string, got a list', 3, 12],
  ];
  for (const [text, message, line, column] of cases) {
    assert.deepEqual(
      extractImages('compose.yaml', text),
      { images: [], problems: [{ file: 'compose.yaml', line, column, message, code: 'WRONG_TYPE' }] },
      text,
    );
  }
});

void test('a mapping with services and a kind is a Kubernetes object, not a Compose file', () => {
  const text = 'apiVersion: example.com/v1\nkind: Thing\nservices:\n  web: {image: nginx}\n';
  assert.deepEqual(extractImages('thing.yaml', text), { images: [], problems: [] });
});
