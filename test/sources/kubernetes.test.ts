import { test } from 'node:test';
import assert from 'node:assert/strict';
import { extractImages } from '../../src/sources/index.ts';
import { brief, hasKubectl, kubectl, positionOf } from './helpers.ts';

const at = (text: string, needle: string): string => {
  const { line, column } = positionOf(text, needle);
  return `${line}:${column}`;
};

const DIGEST = 'sha256:14c2529eb4498c5d1ffd6915d05bf58a91bdda796af59f41d480d11c099d0479';

void test('Deployment: init containers, containers, identity and exact positions', () => {
  const text = `apiVersion: apps/v1
kind: Deployment
metadata:
  name: api
  namespace: shop
spec:
  template:
    spec:
      initContainers:
        - name: migrate
          image: ghcr.io/acme/migrate:2.3.0@${DIGEST}
      containers:
        - name: api
          image: "ghcr.io/acme/api:1.4.2"
`;
  const result = extractImages('deploy.yaml', text);
  assert.deepEqual(result.problems, []);
  assert.deepEqual(result.images, [
    {
      image: `ghcr.io/acme/migrate:2.3.0@${DIGEST}`,
      source: {
        file: 'deploy.yaml',
        line: 11,
        column: 18,
        format: 'kubernetes',
        kind: 'Deployment',
        apiVersion: 'apps/v1',
        namespace: 'shop',
        name: 'api',
        documentIndex: 0,
        path: 'spec.template.spec.initContainers[0].image',
        container: 'migrate',
      },
    },
    {
      image: 'ghcr.io/acme/api:1.4.2',
      source: {
        file: 'deploy.yaml',
        line: 14,
        column: 18, // the opening quote of a quoted value
        format: 'kubernetes',
        kind: 'Deployment',
        apiVersion: 'apps/v1',
        namespace: 'shop',
        name: 'api',
        documentIndex: 0,
        path: 'spec.template.spec.containers[0].image',
        container: 'api',
      },
    },
  ]);
});

const POD_SPEC = `
      containers:
        - name: main
          image: main:1`;

for (const [kind, apiVersion, prefix, wrap] of [
  ['ReplicaSet', 'apps/v1', 'spec.template.spec', (s: string) => `spec:\n  template:\n    spec:${s}`],
  ['StatefulSet', 'apps/v1', 'spec.template.spec', (s: string) => `spec:\n  template:\n    spec:${s}`],
  ['DaemonSet', 'apps/v1', 'spec.template.spec', (s: string) => `spec:\n  template:\n    spec:${s}`],
  ['Job', 'batch/v1', 'spec.template.spec', (s: string) => `spec:\n  template:\n    spec:${s}`],
  ['ReplicationController', 'v1', 'spec.template.spec', (s: string) => `spec:\n  template:\n    spec:${s}`],
  ['PodTemplate', 'v1', 'template.spec', (s: string) => `template:\n    spec:${s}`],
  [
    'CronJob',
    'batch/v1',
    'spec.jobTemplate.spec.template.spec',
    (s: string) => `spec:\n  jobTemplate:\n   spec:\n    template:\n     spec:${s}`,
  ],
  ['Pod', 'v1', 'spec', (s: string) => `spec:${s.replace(/\n {6}/g, '\n  ')}`],
] as const) {
  void test(`${kind}: pod spec at ${prefix}`, () => {
    const text = `apiVersion: ${apiVersion}\nkind: ${kind}\nmetadata: {name: w, namespace: ns}\n${wrap(POD_SPEC)}\n`;
    const result = extractImages('w.yaml', text);
    assert.deepEqual(result.problems, []);
    assert.equal(result.images.length, 1);
    const [image] = result.images;
    assert.equal(image?.image, 'main:1');
    assert.deepEqual(
      { ...image?.source },
      {
        file: 'w.yaml',
        ...positionOf(text, 'main:1'),
        format: 'kubernetes',
        kind,
        apiVersion,
        namespace: 'ns',
        name: 'w',
        documentIndex: 0,
        path: `${prefix}.containers[0].image`,
        container: 'main',
      },
    );
  });
}

void test('Pod: ephemeral containers and image volumes', () => {
  const text = `apiVersion: v1
kind: Pod
metadata:
  name: inference
spec:
  containers:
  - {name: server, image: ghcr.io/acme/inference:5}
  ephemeralContainers:
  - name: debugger
    image: busybox:1.36
  volumes:
  - name: config
    configMap: {name: cfg}
  - name: model
    image:
      reference: ghcr.io/acme/model:1
      pullPolicy: IfNotPresent
`;
  const result = extractImages('pod.yaml', text);
  assert.deepEqual(result.problems, []);
  assert.deepEqual(brief(result), [
    { image: 'ghcr.io/acme/inference:5', path: 'spec.containers[0].image', at: '7:27' },
    { image: 'busybox:1.36', path: 'spec.ephemeralContainers[0].image', at: '10:12' },
    { image: 'ghcr.io/acme/model:1', path: 'spec.volumes[1].image.reference', at: '16:18' },
  ]);
  assert.equal(result.images[1]?.source.container, 'debugger');
  assert.equal(result.images[2]?.source.container, undefined);
  assert.equal(result.images[2]?.note, 'image volume "model"');
  assert.equal(result.images[0]?.source.namespace, undefined);
});

void test('List and *List: items are objects, paths are prefixed with items[i]', () => {
  const text = `apiVersion: v1
kind: List
items:
- apiVersion: v1
  kind: ConfigMap
  metadata: {name: cfg}
  data: {image: not-an-image}
- apiVersion: apps/v1
  kind: Deployment
  metadata: {name: a, namespace: one}
  spec: {template: {spec: {containers: [{name: c, image: "a:1"}]}}}
- apiVersion: v1
  kind: PodList
  items:
  - kind: Pod
    metadata: {name: p}
    spec: {containers: [{name: c, image: b:2}]}
`;
  const result = extractImages('list.yaml', text);
  assert.deepEqual(result.problems, []);
  assert.deepEqual(brief(result), [
    { image: 'a:1', path: 'items[1].spec.template.spec.containers[0].image', at: at(text, '"a:1"') },
    { image: 'b:2', path: 'items[2].items[0].spec.containers[0].image', at: at(text, 'b:2') },
  ]);
  assert.deepEqual(
    result.images.map((i) => [i.source.kind, i.source.name, i.source.namespace]),
    [
      ['Deployment', 'a', 'one'],
      ['Pod', 'p', undefined],
    ],
  );
});

void test('multi-document YAML: documentIndex counts every document, empty ones included', () => {
  const text = `# leading comment
apiVersion: v1
kind: Service
metadata: {name: s}
---
---
apiVersion: batch/v1
kind: Job
metadata: {name: j}
spec: {template: {spec: {containers: [{name: c, image: "job:1"}]}}}
---
kind: Pod
metadata: {name: p}
spec: {containers: [{name: c, image: "pod:1"}]}
...
`;
  const result = extractImages('multi.yaml', text);
  assert.deepEqual(result.problems, []);
  assert.deepEqual(
    result.images.map((i) => [i.image, i.source.documentIndex, i.source.kind, i.source.line]),
    [
      ['job:1', 2, 'Job', 10],
      ['pod:1', 3, 'Pod', 14],
    ],
  );
});

void test('JSON input gets exact positions too', () => {
  const text = JSON.stringify(
    {
      apiVersion: 'apps/v1',
      kind: 'Deployment',
      metadata: { name: 'x', namespace: 'default' },
      spec: { template: { spec: { containers: [{ name: 'nginx', image: 'nginx:1' }] } } },
    },
    null,
    2,
  );
  const result = extractImages('deploy.json', text);
  assert.deepEqual(result.problems, []);
  assert.deepEqual(brief(result), [
    { image: 'nginx:1', path: 'spec.template.spec.containers[0].image', at: '14:22' },
  ]);
  assert.deepEqual(positionOf(text, '"nginx:1"'), { line: 14, column: 22 });
});

void test(
  'real kubectl objects: deployment, job and cronjob, in JSON and YAML',
  { skip: !hasKubectl && 'kubectl is not installed' },
  () => {
    for (const [args, path] of [
      [['create', 'deployment', 'x', '--image=nginx:1'], 'spec.template.spec.containers[0].image'],
      [['create', 'job', 'x', '--image=ghcr.io/acme/job:2'], 'spec.template.spec.containers[0].image'],
      [
        ['create', 'cronjob', 'x', '--image=ghcr.io/acme/cron:3', '--schedule=0 2 * * *'],
        'spec.jobTemplate.spec.template.spec.containers[0].image',
      ],
    ] as const) {
      const image = (args[3] ?? '').slice('--image='.length);
      for (const output of ['json', 'yaml']) {
        const text = kubectl([...args, '-o', output]);
        assert.ok(text !== undefined);
        const result = extractImages(`x.${output}`, text);
        assert.deepEqual(result.problems, []);
        const quoted = output === 'json' ? `"${image}"` : image;
        const { line, column } = positionOf(text, quoted);
        assert.deepEqual(brief(result), [{ image, path, at: `${line}:${column}` }], `${args[1]} ${output}`);
        assert.equal(result.images[0]?.source.name, 'x');
      }
    }
  },
);

void test('anchors, aliases and merge keys are followed; positions point at the anchored value', () => {
  const text = `kind: Deployment
metadata: {name: d}
x-base: &base
  image: shared:1
  imagePullPolicy: Always
spec:
  template:
    spec:
      containers:
      - <<: *base
        name: a
      - <<: *base
        name: b
        image: own:2
`;
  const result = extractImages('anchors.yaml', text);
  assert.deepEqual(result.problems, []);
  assert.deepEqual(
    result.images.map((i) => [i.image, i.source.container, i.source.line, i.source.column]),
    [
      ['shared:1', 'a', 4, 10],
      ['own:2', 'b', 14, 16],
    ],
  );
});

void test('custom resources with a conventional pod spec are checked, with a note', () => {
  const text = `apiVersion: argoproj.io/v1alpha1
kind: Rollout
metadata: {name: r}
spec:
  template:
    spec:
      containers: [{name: c, image: "rollout:1"}]
`;
  const result = extractImages('rollout.yaml', text);
  assert.deepEqual(result.problems, []);
  assert.deepEqual(brief(result), [
    { image: 'rollout:1', path: 'spec.template.spec.containers[0].image', at: '7:37' },
  ]);
  assert.equal(
    result.images[0]?.note,
    'kind Rollout is not a built-in workload kind; the pod spec at spec.template.spec was checked',
  );
});

void test('objects without images, unknown kinds and non-Kubernetes mappings yield nothing', () => {
  for (const text of [
    'apiVersion: v1\nkind: ConfigMap\nmetadata: {name: c}\ndata: {image: "x:1"}\n',
    'apiVersion: apps/v1\nkind: Deployment\nmetadata: {name: d}\nspec: {replicas: 1}\n',
    'apiVersion: apps/v1\nkind: Deployment\nmetadata: {name: d}\nspec:\n  template:\n',
    'apiVersion: v1\nkind: Pod\nmetadata: {name: p}\nspec: {containers: []}\n',
    'apiVersion: example.com/v1\nkind: Widget\nspec: {image: "x:1"}\n',
    'image:\n  repository: nginx\n  tag: latest\n', // Helm values
    'name: CI\non: [push]\njobs: {build: {runs-on: ubuntu-latest}}\n',
  ]) {
    assert.deepEqual(extractImages('none.yaml', text), { images: [], problems: [] }, text);
  }
});

void test('wrong types are problems with positions, and the rest of the object is still read', () => {
  const text = `apiVersion: v1
kind: Pod
metadata: {name: p}
spec:
  initContainers: not-a-list
  containers:
  - name: a
    image: 1.5
  - name: b
  - just-a-string
  - name: c
    image: {repository: nginx}
  - name: d
    image: ok:1
  - name: e
    image:
  volumes:
  - name: v
    image: ghcr.io/acme/model:1
  - name: w
    image: {pullPolicy: Always}
`;
  const result = extractImages('bad.yaml', text);
  assert.deepEqual(brief(result), [{ image: 'ok:1', path: 'spec.containers[4].image', at: '14:12' }]);
  assert.deepEqual(result.problems, [
    {
      file: 'bad.yaml',
      line: 5,
      column: 19,
      message: 'Pod "p": spec.initContainers must be a list, got a string',
      code: 'WRONG_TYPE',
    },
    {
      file: 'bad.yaml',
      line: 8,
      column: 12,
      message: 'Pod "p": spec.containers[0].image must be a string, got a number (1.5)',
      code: 'WRONG_TYPE',
    },
    {
      file: 'bad.yaml',
      line: 9,
      column: 5,
      message: 'Pod "p": spec.containers[1] (container "b") has no image',
      code: 'MISSING_IMAGE',
    },
    {
      file: 'bad.yaml',
      line: 10,
      column: 5,
      message: 'Pod "p": spec.containers[2] must be a mapping (a container), got a string',
      code: 'WRONG_TYPE',
    },
    {
      file: 'bad.yaml',
      line: 12,
      column: 12,
      message: 'Pod "p": spec.containers[3].image must be a string, got a mapping',
      code: 'WRONG_TYPE',
    },
    {
      file: 'bad.yaml',
      line: 15,
      column: 5,
      message: 'Pod "p": spec.containers[5] (container "e") has no image',
      code: 'MISSING_IMAGE',
    },
    {
      file: 'bad.yaml',
      line: 19,
      column: 12,
      message: 'Pod "p": spec.volumes[0].image (volume "v") must be a mapping, got a string',
      code: 'WRONG_TYPE',
    },
    {
      file: 'bad.yaml',
      line: 21,
      column: 12,
      message: 'Pod "p": spec.volumes[1].image (volume "w") has no reference',
      code: 'MISSING_IMAGE',
    },
  ]);
});

void test('wrong types on the way to the pod spec, in kind and in List items', () => {
  const cases: [string, string, number, number][] = [
    [
      'kind: Deployment\nmetadata: {name: d}\nspec: [1]\n',
      'Deployment "d": spec must be a mapping, got a list',
      3,
      7,
    ],
    [
      'kind: CronJob\nspec:\n  jobTemplate: "x"\n',
      'CronJob: spec.jobTemplate must be a mapping, got a string',
      3,
      16,
    ],
    ['kind: 42\nspec: {}\n', 'kind must be a string, got a number (42)', 1, 7],
    ['kind: List\nitems: {a: 1}\n', 'List: items must be a list, got a mapping', 2, 8],
    ['kind: List\nitems:\n- 5\n', 'List: items[0] must be a mapping (an object), got a number (5)', 3, 3],
    ['kind: List\nitems:\n- {metadata: {}}\n', 'List: items[0] has no kind', 3, 3],
    [
      'kind: List\nitems:\n- kind: Pod\n  spec:\n    containers: "nginx"\n',
      'Pod: items[0].spec.containers must be a list, got a string',
      5,
      17,
    ],
  ];
  for (const [text, message, line, column] of cases) {
    const result = extractImages('t.yaml', text);
    assert.deepEqual(result.images, [], text);
    assert.deepEqual(result.problems, [{ file: 't.yaml', line, column, message, code: 'WRONG_TYPE' }], text);
  }
});

void test('image values are reported as written, even when they are not valid references', () => {
  const text =
    'kind: Pod\nspec:\n  containers:\n  - {name: a, image: ""}\n  - {name: b, image: "NOT a ref!!"}\n';
  const result = extractImages('p.yaml', text);
  assert.deepEqual(result.problems, []);
  assert.deepEqual(
    result.images.map((i) => i.image),
    ['', 'NOT a ref!!'],
  );
});
