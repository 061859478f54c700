import { test } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { extractImages, LIMITS } from '../../src/sources/index.ts';

const MiB = 1024 * 1024;

void test('empty YAML input is not an error: zero images, zero problems', () => {
  for (const text of ['', '\n\n', '# only a comment\n', '---\n---\n', '\uFEFF']) {
    assert.deepEqual(extractImages('empty.yaml', text), { images: [], problems: [] }, JSON.stringify(text));
  }
  assert.deepEqual(extractImages('-', ''), { images: [], problems: [] });
});

void test('malformed YAML is reported with the position of the error', () => {
  const cases: [string, number, number, string][] = [
    [
      'kind: Pod\nspec: [unclosed\n',
      3,
      1,
      'Flow sequence in block collection must be sufficiently indented and end with a ]',
    ],
    ['kind: Pod\nkind: Job\n', 2, 1, 'Map keys must be unique'],
    ['a: b: c\n', 1, 4, 'Nested mappings are not allowed in compact mappings'],
    ['kind: Pod\nspec:\n\tcontainers: []\n', 3, 1, 'Tabs are not allowed as indentation'],
    ['kind: "unterminated\n', 2, 1, 'Missing closing "quote'],
  ];
  for (const [text, line, column, detail] of cases) {
    assert.deepEqual(
      extractImages('bad.yaml', text),
      {
        images: [],
        problems: [
          { file: 'bad.yaml', line, column, message: `invalid YAML: ${detail}`, code: 'YAML_SYNTAX' },
        ],
      },
      text,
    );
  }
});

void test('a malformed document does not hide the images of the other documents', () => {
  const text =
    'kind: Pod\nspec: {containers: [{name: a, image: "a:1"}]}\n---\nkind: [\n---\nkind: Pod\nspec: {containers: [{name: b, image: "b:1"}]}\n';
  const result = extractImages('multi.yaml', text);
  assert.deepEqual(
    result.images.map((i) => [i.image, i.source.documentIndex]),
    [
      ['a:1', 0],
      ['b:1', 2],
    ],
  );
  assert.deepEqual(
    result.problems.map((p) => [p.line, p.code]),
    [[5, 'YAML_SYNTAX']],
  );
});

void test('documents that are not mappings are problems: a Kubernetes object or Compose file is a mapping', () => {
  assert.deepEqual(extractImages('x.yaml', 'just some text\n'), {
    images: [],
    problems: [
      {
        file: 'x.yaml',
        line: 1,
        column: 1,
        message: 'YAML document 0 is a string, not a mapping: not a Kubernetes object or Compose file',
        code: 'WRONG_TYPE',
      },
    ],
  });
  assert.deepEqual(extractImages('x.json', '{"kind": "Pod"}\n---\n[1, 2]\n').problems, [
    {
      file: 'x.json',
      line: 3,
      column: 1,
      message: 'YAML document 1 is a list, not a mapping: not a Kubernetes object or Compose file',
      code: 'WRONG_TYPE',
    },
  ]);
});

void test('binary data is refused with the position of the first NUL byte', () => {
  assert.deepEqual(extractImages('image.tar', 'kind: Pod\nab\u0000cd'), {
    images: [],
    problems: [
      {
        file: 'image.tar',
        line: 2,
        column: 3,
        message: 'binary data (a NUL byte): not a Kubernetes manifest, Compose file or Dockerfile',
        code: 'BINARY',
      },
    ],
  });
});

void test('input over the size limit is refused without being parsed', () => {
  assert.equal(LIMITS.maxFileBytes, 16 * MiB);
  const text = 'a'.repeat(17 * MiB);
  assert.deepEqual(extractImages('huge.yaml', text), {
    images: [],
    problems: [
      {
        file: 'huge.yaml',
        message: 'file has 17825792 bytes, more than the 16 MiB (16777216 bytes) limit',
        code: 'TOO_LARGE',
      },
    ],
  });
  // The limit is in UTF-8 bytes, not in characters.
  const multibyte = 'é'.repeat(9 * MiB);
  assert.equal(extractImages('wide.yaml', multibyte).problems[0]?.code, 'TOO_LARGE');
});

void test('10 MB of garbage of every shape ends in one bounded problem, never a crash', () => {
  const size = 10 * MiB;
  const cases: [string, string, string][] = [
    ['random bytes', randomBytes(size).toString('latin1'), 'BINARY'],
    [
      'base64 lines',
      randomBytes((size * 3) / 4)
        .toString('base64')
        .replace(/(.{76})/g, '$1\n'),
      'WRONG_TYPE',
    ],
    ['nested flow sequences', '['.repeat(size), 'YAML_TOO_COMPLEX'],
    ['nested block sequences', '- '.repeat(size / 2), 'YAML_TOO_COMPLEX'],
    ['nested JSON objects', '{"a":'.repeat(size / 5), 'YAML_TOO_COMPLEX'],
    ['millions of keys', 'k: v\n'.repeat(size / 5), 'YAML_TOO_COMPLEX'],
    ['millions of documents', '---\n'.repeat(size / 4), 'YAML_TOO_COMPLEX'],
    ['quotes', '"'.repeat(size), 'YAML_TOO_COMPLEX'],
    ['compact nested mappings', 'a: b: c: d\n'.repeat(size / 11), 'YAML_TOO_COMPLEX'],
  ];
  const messages = new Map<string, string | undefined>();
  for (const [name, text, code] of cases) {
    const result = extractImages('garbage.yaml', text);
    assert.deepEqual(result.images, [], name);
    assert.equal(result.problems.length, 1, name);
    assert.equal(result.problems[0]?.code, code, name);
    messages.set(name, result.problems[0]?.message);
  }
  assert.equal(messages.get('nested flow sequences'), 'YAML is nested more than 128 levels deep');
  assert.equal(
    messages.get('millions of keys'),
    'YAML is too large to check: more than 500000 tokens; split it into smaller files',
  );
  assert.equal(
    messages.get('millions of documents'),
    'YAML has more than 10000 documents; split it into smaller files',
  );
});

void test('10 MB of garbage in a Dockerfile is bounded too', () => {
  const oneLogicalLine = 'FROM \\\n'.repeat((10 * MiB) / 7);
  assert.deepEqual(extractImages('Dockerfile', oneLogicalLine).problems, [
    {
      file: 'Dockerfile',
      line: 10001,
      column: 1,
      message:
        'instruction starting on line 1 continues over more than 10000 lines; the rest of the file was not read',
      code: 'DOCKERFILE_SYNTAX',
    },
  ]);
  const noise = 'RUN echo hello\n'.repeat((10 * MiB) / 15) + 'FROM a:1\n';
  assert.deepEqual(
    extractImages('Dockerfile', noise).images.map((i) => i.image),
    ['a:1'],
  );
});

void test('YAML syntax errors are capped per file', () => {
  const text = Array.from({ length: 50 }, (_, i) => `---\nkind: [${i}\n`).join('');
  const problems = extractImages('many.yaml', text).problems;
  assert.equal(problems.length, LIMITS.maxYamlErrorsPerFile + 1);
  assert.equal(
    problems.at(-1)?.message,
    `invalid YAML: ${50 - LIMITS.maxYamlErrorsPerFile} more errors not shown`,
  );
});

void test('an alias bomb (one anchored pod spec referenced everywhere) stops at the findings limit', () => {
  const containers = Array.from({ length: 1000 }, (_, i) => `    - {name: c${i}, image: "x:${i}"}`).join(
    '\n',
  );
  const items = Array.from({ length: 200 }, () => '- *pod').join('\n');
  const text = `kind: List\nx-pod: &pod\n  kind: Pod\n  spec:\n    containers:\n${containers}\nitems:\n${items}\n`;
  const result = extractImages('bomb.yaml', text);
  assert.equal(result.images.length, LIMITS.maxFindingsPerFile);
  assert.deepEqual(result.problems.at(-1), {
    file: 'bomb.yaml',
    message: `more than ${LIMITS.maxFindingsPerFile} images and problems in one file; the rest was not read`,
    code: 'LIMIT_EXCEEDED',
  });
});

void test('a document of 150 000 aliases is resolved in one pass (alias resolution is not quadratic)', () => {
  const aliases = Array.from({ length: 150_000 }, () => '*cm').join(', ');
  const text = `kind: List\nx-cm: &cm {kind: ConfigMap, metadata: {name: c}}\nitems: [${aliases}, {kind: Pod, spec: {containers: [{name: c, image: "last:1"}]}}]\n`;
  const result = extractImages('aliases.yaml', text);
  assert.deepEqual(result.problems, []);
  assert.deepEqual(
    result.images.map((i) => [i.image, i.source.path]),
    [['last:1', 'items[150000].spec.containers[0].image']],
  );
});

void test('duplicate keys are errors at the second key, also inside flow mappings and JSON', () => {
  const cases: [string, string, number, number][] = [
    ['c.yaml', 'kind: Pod\nspec:\n  containers:\n  - name: a\n    image: good:1\n    image: evil:1\n', 6, 5],
    ['c.json', '{"kind": "Pod", "spec": {"containers": [{"image": "good:1", "image": "evil:1"}]}}', 1, 61],
    ['c.yaml', 'services: {web: {image: a, image: b}}\n', 1, 28],
  ];
  for (const [file, text, line, column] of cases) {
    assert.deepEqual(
      extractImages(file, text),
      {
        images: [],
        problems: [
          { file, line, column, message: 'invalid YAML: Map keys must be unique', code: 'YAML_SYNTAX' },
        ],
      },
      text,
    );
  }
});

void test('many distinct keys are parsed in linear time (the library check was quadratic)', () => {
  const keys = Array.from({ length: 30_000 }, (_, i) => `k${i}: ${i}`).join(', ');
  const text = `kind: Pod\nmetadata: {annotations: {${keys}}}\nspec: {containers: [{name: c, image: "x:1"}]}\n`;
  assert.deepEqual(
    extractImages('keys.yaml', text).images.map((i) => i.image),
    ['x:1'],
  );
});

void test('aliases that make us look at one big mapping again and again stop at the work limit', () => {
  const big = Array.from({ length: 2_000 }, (_, i) => `k${i}: ${i}`).join(', ');
  const aliases = Array.from({ length: 10_000 }, () => '*m').join(', ');
  const text = `kind: Pod\nx: &m {${big}}\nspec:\n  containers: [${aliases}]\n`;
  const result = extractImages('work.yaml', text);
  assert.deepEqual(result.images, []);
  assert.deepEqual(result.problems.at(-1), {
    file: 'work.yaml',
    message: `YAML aliases and merge keys make reading this file take more than ${LIMITS.maxYamlWork} steps; the rest was not read`,
    code: 'LIMIT_EXCEEDED',
  });
});

void test('merge keys: explicit keys win, then merge sources in order; chains and diamonds are followed once', () => {
  let levels = 'l0: &l0 {name: base, image: "deep:1"}\n';
  for (let i = 1; i < 40; i++)
    levels += `l${i}: &l${i} {<<: [${Array.from({ length: 10 }, () => `*l${i - 1}`).join(', ')}]}\n`;
  const text = `kind: Pod\n${levels}a: &a {image: "first:1"}\nb: &b {image: "second:1"}\nspec:\n  containers:\n  - <<: *l39\n  - <<: [*a, *b]\n  - <<: [*a, *b]\n    image: own:1\n`;
  const result = extractImages('merge.yaml', text);
  assert.deepEqual(result.problems, []);
  assert.deepEqual(
    result.images.map((i) => [i.image, i.source.container]),
    [
      ['deep:1', 'base'],
      ['first:1', undefined],
      ['own:1', undefined],
    ],
  );
});

void test('unrendered Helm templates: invalid YAML says to render first; placeholders are noted', () => {
  const broken = extractImages(
    'deployment.yaml',
    'kind: Pod\nspec:\n  {{- with .Values.podSpec }}\n  containers: []\n  {{- end }}\n',
  );
  assert.deepEqual(broken.images, []);
  assert.ok(broken.problems.length > 0);
  for (const problem of broken.problems) {
    assert.equal(problem.code, 'YAML_SYNTAX');
    assert.ok(
      problem.message.endsWith(
        '; this looks like a template (it contains "{{"): render it first, e.g. `helm template ... | portcullis check -`',
      ),
      problem.message,
    );
  }
  const quoted = extractImages(
    'pod.yaml',
    'kind: Pod\nspec:\n  containers:\n  - name: c\n    image: "{{ .Values.image }}"\n',
  );
  assert.deepEqual(
    quoted.images.map((i) => [i.image, i.note]),
    [['{{ .Values.image }}', 'looks like an unrendered template placeholder']],
  );
});
