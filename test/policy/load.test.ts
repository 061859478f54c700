import { test } from 'node:test';
import assert from 'node:assert/strict';
import { loadPolicySet } from '../../src/policy/load.ts';
import { HEAD, lint, policy } from './helpers.ts';

const DIGEST = `sha256:${'c'.repeat(64)}`;

void test('a valid policy compiles with defaults, positions and a content version', () => {
  const text = policy(
    'prod',
    '    - tags: { forbid: [latest] }\n    - tags: { requireDigest: true }\n    - name: hosts\n      registries: { allow: [ghcr.io] }\n',
  );
  const result = loadPolicySet([{ path: 'p.yaml', text }]);
  assert.ok(result.ok);
  assert.deepEqual(result.warnings, []);
  const [p] = result.policySet.policies;
  assert.ok(p);
  assert.equal(p.name, 'prod');
  assert.equal(p.mode, 'enforce');
  assert.equal(result.policySet.noMatch, 'deny');
  assert.deepEqual(p.source, { file: 'p.yaml', line: 1, column: 1 });
  assert.deepEqual(
    p.rules.map((r) => [r.kind, r.name, r.source.line, r.source.column]),
    [
      ['tags', 'tags-0', 9, 7],
      ['tags', 'tags-1', 10, 7],
      ['registries', 'hosts', 11, 7],
    ],
  );
  assert.match(p.version, /^sha256:[0-9a-f]{64}$/);
  assert.match(result.policySet.version, /^sha256:[0-9a-f]{64}$/);
});

void test('versions depend on content only, not on formatting, key order or file layout', () => {
  const a = policy('prod', '    - tags: { forbid: [latest] }\n');
  const b = `kind: ImagePolicy\napiVersion: portcullis.dev/v1alpha1\nspec:\n  rules: [{tags: {forbid: ["latest"]}}]\n  images: [{glob: "ghcr.io/acme/**"}]\nmetadata: {name: prod}\n`;
  const other = policy('other', '    - tags: { forbid: [dev] }\n');
  const ra = loadPolicySet([
    { path: 'a.yaml', text: a },
    { path: 'o.yaml', text: other },
  ]);
  const rb = loadPolicySet([{ path: 'b.yaml', text: `${other}---\n${b}` }]);
  assert.ok(ra.ok && rb.ok);
  assert.equal(ra.policySet.policies[0]?.version, rb.policySet.policies[1]?.version);
  assert.equal(ra.policySet.version, rb.policySet.version);
  const rc = loadPolicySet([{ path: 'a.yaml', text: a.replace('latest', 'edge') }]);
  assert.ok(rc.ok);
  assert.notEqual(rc.policySet.policies[0]?.version, ra.policySet.policies[0]?.version);
});

void test('a PolicySet sets noMatch; the set version covers it', () => {
  const set = (v: string) =>
    `apiVersion: portcullis.dev/v1alpha1\nkind: PolicySet\nmetadata: {name: default}\nspec: {noMatch: ${v}}\n`;
  const p = policy('prod', '    - tags: { forbid: [latest] }\n');
  const warn = loadPolicySet([
    { path: 'p.yaml', text: p },
    { path: 's.yaml', text: set('warn') },
  ]);
  const deny = loadPolicySet([
    { path: 'p.yaml', text: p },
    { path: 's.yaml', text: set('deny') },
  ]);
  assert.ok(warn.ok && deny.ok);
  assert.equal(warn.policySet.noMatch, 'warn');
  assert.notEqual(warn.policySet.version, deny.policySet.version);
});

void test('unknown fields point at the key, with the accepted fields and a suggestion', () => {
  assert.deepEqual(lint(policy('prod', '    - tags: { forbid: [latest], alow: [v1] }\n', '  imagez: []\n')), [
    'p.yaml:6:3: error: unknown field "imagez" (did you mean "images"?) (at spec.imagez; expected one of description, mode, images, exclude, match, rules)',
    'p.yaml:10:33: error: unknown field "alow" (did you mean "allow"?) (at spec.rules[0].tags.alow; expected one of forbid, allow, requireDigest)',
  ]);
});

void test('wrong types point at the value; missing fields at the parent', () => {
  const text = `${HEAD}metadata:\nspec:\n  mode: 3\n  images: ghcr.io/acme/**\n  rules:\n    - tags: { requireDigest: "yes" }\n`;
  assert.deepEqual(lint(text), [
    'p.yaml:3:1: error: wrong type: expected a mapping (at metadata; found nothing (null), expected a mapping)',
    'p.yaml:5:9: error: wrong type: expected a string (at spec.mode; found number 3, expected a string)',
    'p.yaml:6:11: error: wrong type: expected a list (at spec.images; found "ghcr.io/acme/**", expected a list)',
    'p.yaml:8:30: error: wrong type: expected true or false (at spec.rules[0].tags.requireDigest; found "yes", expected true or false)',
  ]);
  assert.deepEqual(lint(`${HEAD}metadata: {name: prod}\nspec:\n  images: [{}]\n`), [
    'p.yaml:5:3: error: missing required field "rules" (at spec.rules)',
    'p.yaml:5:12: error: missing required field "glob" (at spec.images[0].glob)',
  ]);
  assert.deepEqual(lint('apiVersion: portcullis.dev/v1alpha1\nkind: PolicySet\n'), [
    'p.yaml:1:1: error: missing required field "metadata" (at metadata)',
    'p.yaml:1:1: error: missing required field "spec" (at spec)',
  ]);
});

void test('empty lists are refused, saying how many items are needed', () => {
  assert.deepEqual(
    lint(`${HEAD}metadata: {name: prod}\nspec:\n  images: []\n  rules:\n    - registries: { allow: [] }\n`),
    [
      'p.yaml:5:11: error: the list is empty; it needs at least 1 item (an optional list can be left out instead) (at spec.images; found a list of 0 items)',
      'p.yaml:7:28: error: the list is empty; it needs at least 1 item (an optional list can be left out instead) (at spec.rules[0].registries.allow; found a list of 0 items)',
    ],
  );
});

void test('bad enum values list the accepted ones', () => {
  assert.deepEqual(lint(policy('prod', '    - tags: { forbid: [latest] }\n', '  mode: strict\n')), [
    'p.yaml:6:9: error: unsupported mode value "strict" (at spec.mode; found "strict", expected one of enforce, warn, audit)',
  ]);
});

void test('wrong apiVersion or kind: the accepted values, and nothing else about that document', () => {
  assert.deepEqual(lint('apiVersion: portcullis.dev/v1\nkind: ImagePolicy\nspec: 1\n'), [
    'p.yaml:1:13: error: unsupported apiVersion "portcullis.dev/v1" (at apiVersion; found "portcullis.dev/v1", expected portcullis.dev/v1alpha1)',
  ]);
  assert.deepEqual(lint('apiVersion: portcullis.dev/v1alpha1\nkind: Deployment\n'), [
    'p.yaml:2:7: error: unsupported kind "Deployment" (at kind; found "Deployment", expected one of ImagePolicy, PolicySet)',
  ]);
  assert.deepEqual(lint('kind: ImagePolicy\n'), [
    'p.yaml:1:1: error: missing required field "apiVersion" (at apiVersion; expected portcullis.dev/v1alpha1)',
  ]);
  const cip = lint('apiVersion: policy.sigstore.dev/v1beta1\nkind: ClusterImagePolicy\n');
  assert.equal(cip.length, 2);
  assert.match(
    cip[0] ?? '',
    /^p\.yaml:1:13: error: unsupported apiVersion "policy\.sigstore\.dev\/v1beta1": a policy-controller ClusterImagePolicy is not read directly; translate it/,
  );
});

void test('duplicate policy names are reported at both places', () => {
  const a = policy('prod', '    - tags: { forbid: [latest] }\n');
  assert.deepEqual(lint({ 'a.yaml': a, 'b.yaml': `---\n${a}` }), [
    'a.yaml:4:9: error: duplicate policy name "prod": also defined at b.yaml:5:9 (at metadata.name; found "prod", expected a name unique across the policy set)',
    'b.yaml:5:9: error: duplicate policy name "prod": also defined at a.yaml:4:9 (at metadata.name; found "prod", expected a name unique across the policy set)',
  ]);
});

void test('more than one PolicySet is refused at both places', () => {
  const set = 'apiVersion: portcullis.dev/v1alpha1\nkind: PolicySet\nmetadata: {name: a}\nspec: {}\n';
  const p = policy('prod', '    - tags: { forbid: [latest] }\n');
  assert.deepEqual(lint({ 'p.yaml': p, 's.yaml': `${set}---\n${set}` }), [
    's.yaml:2:7: error: more than one PolicySet in the policy set (another is at s.yaml:7:7) (at kind)',
    's.yaml:7:7: error: more than one PolicySet in the policy set (the first is at s.yaml:2:7) (at kind)',
  ]);
});

void test('invalid globs point inside the value at the offending character', () => {
  const text = `${HEAD}metadata: {name: prod}\nspec:\n  images:\n    - glob: ghcr.io/[a-z]/**\n    - glob: "ghcr.io/a+"\n    - glob: |\n        ghcr.io/a+\n  exclude: [{glob: 'x y'}]\n  rules:\n    - tags: { forbid: ['lat?st'] }\n`;
  assert.deepEqual(lint(text), [
    `p.yaml:6:21: error: invalid image pattern "ghcr.io/[a-z]/**": '[' is not allowed: character classes and alternatives are not supported at position 9 (at spec.images[0].glob; found "ghcr.io/[a-z]/**")`,
    `p.yaml:7:23: error: invalid image pattern "ghcr.io/a+": '+' is not allowed: patterns are globs, not regular expressions at position 10 (at spec.images[1].glob; found "ghcr.io/a+")`,
    // A block scalar spans lines: the position is the value's start.
    `p.yaml:8:13: error: invalid image pattern "ghcr.io/a+\\n": '+' is not allowed: patterns are globs, not regular expressions at position 10 (at spec.images[2].glob; found "ghcr.io/a+\\n")`,
    `p.yaml:10:22: error: invalid image pattern "x y": unexpected character ' ' (space) at position 2 (at spec.exclude[0].glob; found "x y")`,
    `p.yaml:12:28: error: invalid tag pattern "lat?st": '?' is not a wildcard here: only '*' and '**' are at position 4 (at spec.rules[0].tags.forbid[0]; found "lat?st")`,
  ]);
});

void test('contradictions within a policy are errors', () => {
  const rules = [
    '    - tags: { forbid: [latest, "v*"], allow: ["v*"] }',
    `    - digests: { allow: ["${DIGEST}"], deny: ["${DIGEST}"] }`,
    '    - registries: { allow: [ghcr.io, docker.io], deny: [index.docker.io] }',
    '    - repositories: { allow: ["ghcr.io/acme/**"], deny: ["ghcr.io/acme/**"] }',
    '    - tags: {}',
    '    - tags: { requireDigest: false }',
    '    - registries: { allow: [quay.io] }',
    '',
  ].join('\n');
  assert.deepEqual(lint(policy('prod', rules, '  exclude: [{glob: "ghcr.io/acme/**"}]\n')), [
    'p.yaml:6:20: error: images[0] "ghcr.io/acme/**" is also excluded here, so it selects no image (at spec.exclude[0].glob; found "ghcr.io/acme/**")',
    'p.yaml:10:32: error: tag pattern "v*" is both in allow[0] and in forbid[1]; remove one (at spec.rules[0].tags.forbid[1]; found "v*")',
    `p.yaml:11:109: error: digest ${DIGEST} is both in allow[0] and in deny[0]; remove one (at spec.rules[1].digests.deny[0]; found "${DIGEST}")`,
    'p.yaml:12:57: error: registry "index.docker.io" is both in allow[1] and in deny[0]; remove one (at spec.rules[2].registries.deny[0]; found "index.docker.io")',
    'p.yaml:13:58: error: repository pattern "ghcr.io/acme/**" is both in allow[0] and in deny[0]; remove one (at spec.rules[3].repositories.deny[0]; found "ghcr.io/acme/**")',
    'p.yaml:14:13: error: the tags rule has no constraints; set at least one of forbid, allow, requireDigest (at spec.rules[4].tags; expected one of forbid, allow, requireDigest)',
    'p.yaml:15:13: error: the tags rule has no constraints (requireDigest: false alone constrains nothing); set forbid, allow and/or requireDigest: true (at spec.rules[5].tags; expected forbid, allow or requireDigest: true)',
    'p.yaml:16:28: error: this registries allow list has nothing in common with rules[2].registries.allow; since rules are ANDed, no image can pass both (at spec.rules[6].registries.allow; found [quay.io], expected an entry also in [ghcr.io, docker.io])',
  ]);
});

void test('rule items need exactly one kind; a kind with the wrong shape is refused (spec.match is accepted)', () => {
  const rules = [
    '    - name: x',
    '    - tags: { forbid: [a] }',
    '      digests: { deny: [sha256:1] }',
    '    - attestations: {}',
    '    - name: x',
    '      tags: { forbid: [b] }',
    '',
  ].join('\n');
  assert.deepEqual(lint(policy('prod', rules, '  match: {namespaces: [prod]}\n')), [
    'p.yaml:10:7: error: a rule must have exactly one rule kind, found none (at spec.rules[0]; expected exactly one of registries, repositories, tags, digests, signatures, attestations, attributes, baseImage)',
    'p.yaml:11:7: error: a rule must have exactly one rule kind, found 2 (tags, digests); write each as its own list item (at spec.rules[1]; found tags, digests, expected exactly one of registries, repositories, tags, digests, signatures, attestations, attributes, baseImage)',
    'p.yaml:12:25: error: invalid digest "sha256:1" (at spec.rules[1].digests.deny[0]; found "sha256:1", expected algorithm:hex in lower case: sha256:<64 hex> or sha512:<128 hex>)',
    'p.yaml:13:21: error: wrong type: expected a list (at spec.rules[2].attestations; found a mapping, expected a list)',
  ]);
  // Rule names are unique within a policy.
  const named = [
    '    - name: x',
    '      tags: { forbid: [a] }',
    '    - name: x',
    '      tags: { forbid: [b] }',
    '',
  ].join('\n');
  assert.deepEqual(lint(policy('prod', named)), [
    'p.yaml:11:13: error: rule name "x" is used twice in this policy (also rules[0]) (at spec.rules[1].name; found "x", expected a name unique within the policy)',
  ]);
});

void test('YAML syntax errors, duplicate keys, empty files and non-mapping documents', () => {
  assert.deepEqual(lint('apiVersion: [unclosed\n'), [
    'p.yaml:2:1: error: Flow sequence in block collection must be sufficiently indented and end with a ]',
  ]);
  assert.deepEqual(lint(`${HEAD}kind: PolicySet\n`), [
    'p.yaml:3:1: error: duplicate key "kind" (first at line 2, column 1)',
  ]);
  assert.deepEqual(lint({ 'empty.yaml': '' }), ['empty.yaml:1:1: error: file contains no documents']);
  assert.deepEqual(lint({ 'c.yaml': '# only a comment\n---\n' }), [
    'c.yaml:1:1: error: file contains no documents',
  ]);
  assert.deepEqual(lint('- a\n- b\n'), [
    'p.yaml:1:1: error: a policy document must be a mapping with apiVersion, kind, metadata and spec; found a list of 2 items (found a list of 2 items, expected a mapping)',
  ]);
  assert.deepEqual(lint('just text'), [
    'p.yaml:1:1: error: a policy document must be a mapping with apiVersion, kind, metadata and spec; found "just text" (found "just text", expected a mapping)',
  ]);
});

void test('alias bombs are refused without expanding them', () => {
  const bomb = [
    'a: &a [x, x, x, x, x, x, x, x, x, x]',
    'b: &b [*a, *a, *a, *a, *a, *a, *a, *a, *a, *a]',
    'c: &c [*b, *b, *b, *b, *b, *b, *b, *b, *b, *b]',
    'd: &d [*c, *c, *c, *c, *c, *c, *c, *c, *c, *c]',
    'e: &e [*d, *d, *d, *d, *d, *d, *d, *d, *d, *d]',
    'f: [*e, *e, *e, *e, *e, *e, *e, *e, *e, *e]',
    '',
  ].join('\n');
  assert.deepEqual(lint(bomb), [
    'p.yaml:1:1: error: too many alias expansions (limit 100); aliases that multiply the document are refused',
  ]);
  // Ordinary anchors and aliases are fine.
  const reuse = `${HEAD}metadata: {name: prod}\nspec:\n  images: &imgs [{glob: "ghcr.io/acme/**"}]\n  exclude: *imgs\n  rules: [{tags: {forbid: [latest]}}]\n`;
  assert.deepEqual(lint(reuse), [
    // The excluded glob comes through the alias: the position is the anchored text it stands for.
    'p.yaml:5:25: error: images[0] "ghcr.io/acme/**" is also excluded here, so it selects no image (at spec.exclude[0].glob; found "ghcr.io/acme/**")',
  ]);
});

void test('an oversized file is refused before it is parsed', () => {
  const big = 'x'.repeat(10 * 1024 * 1024);
  assert.deepEqual(lint({ 'big.yaml': big }), [
    'big.yaml:1:1: error: file is 10.0 MiB; policy files are limited to 1.0 MiB',
  ]);
});

void test('every problem in every file and document is reported at once', () => {
  const out = lint({
    'a.yaml': `${policy('one', '    - tags: {}\n')}---\n${policy('two', '    - registries: { allow: [ghcr.io*] }\n')}`,
    'b.yaml': 'key: [unclosed\n',
    'c.yaml': '',
  });
  assert.deepEqual(
    out.map((l) => l.split(': error')[0]),
    ['a.yaml:9:13', 'a.yaml:19:29', 'b.yaml:2:1', 'c.yaml:1:1'],
  );
});

void test('a policy with no rules loads with a warning; a set without ImagePolicy does not load', () => {
  const result = loadPolicySet([
    { path: 'p.yaml', text: policy('prod', '    []\n').replace('  rules:\n    []\n', '  rules: []\n') },
  ]);
  assert.ok(result.ok);
  assert.equal(result.policySet.policies[0]?.rules.length, 0);
  assert.deepEqual(lint(policy('prod', '    []\n').replace('  rules:\n    []\n', '  rules: []\n')), [
    'p.yaml:8:10: warning: policy prod has no rules: every image it matches is denied (a matching policy must produce a verdict) (at spec.rules)',
  ]);
  assert.deepEqual(
    lint({
      's.yaml': 'apiVersion: portcullis.dev/v1alpha1\nkind: PolicySet\nmetadata: {name: a}\nspec: {}\n',
    }),
    ['s.yaml: error: the policy set has no ImagePolicy documents'],
  );
  assert.deepEqual(lint({}), ['(policy set): error: no policy files were given']);
});

void test('JSON files are read with positions too', () => {
  const json = JSON.stringify(
    {
      apiVersion: 'portcullis.dev/v1alpha1',
      kind: 'ImagePolicy',
      metadata: { name: 'json' },
      spec: { images: [{ glob: 'ghcr.io/acme/**' }], rules: [{ tags: { forbid: ['latest'], extra: 1 } }] },
    },
    null,
    2,
  );
  assert.deepEqual(lint({ 'p.json': json }), [
    'p.json:19:11: error: unknown field "extra" (at spec.rules[0].tags.extra; expected one of forbid, allow, requireDigest)',
  ]);
});

void test('a __proto__ key is an unknown field, not a prototype change', () => {
  assert.deepEqual(
    lint(policy('prod', '    - tags: { forbid: [latest], __proto__: { polluted: true } }\n')),
    [
      'p.yaml:9:33: error: unknown field "__proto__" (at spec.rules[0].tags.__proto__; expected one of forbid, allow, requireDigest)',
    ],
  );
  assert.equal(({} as Record<string, unknown>).polluted, undefined);
});
