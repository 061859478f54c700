import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { ImageReference } from '../../src/reference/index.ts';
import {
  compileHostPattern,
  compileImagePattern,
  compileStringPattern,
  parseReference,
  PatternError,
} from '../../src/reference/index.ts';

const D1 = 'sha256:' + '1'.repeat(64);
const D2 = 'sha256:' + '2'.repeat(64);
const D512 = 'sha512:' + '5'.repeat(128);

/** [glob, image, matches?] */
const cases: [string, string, boolean][] = [
  // Short globs are normalized like references.
  ['nginx', 'nginx', true],
  ['nginx', 'docker.io/library/nginx:1.25', true],
  ['nginx', 'index.docker.io/nginx', true],
  ['nginx', 'ghcr.io/nginx', false],
  ['nginx', 'acme/nginx', false],
  ['library/nginx', 'nginx', true],
  ['acme/app', 'docker.io/acme/app:1', true],
  ['acme/*', 'acme/app', true],
  ['acme/*', 'acme/team/app', false],
  ['acme/**', 'acme/team/app', true],
  ['docker.io/nginx', 'nginx', true],
  ['index.docker.io/library/nginx', 'nginx', true],
  ['registry-1.docker.io/nginx', 'docker.io/library/nginx', true],
  ['docker.io/*', 'nginx', true],
  ['docker.io/*', 'acme/app', false],
  ['docker.io/**', 'acme/app', true],
  ['docker.io/**', 'nginx', true],
  ['docker.io/**', 'ghcr.io/nginx', false],
  ['GHCR.IO/acme/app', 'ghcr.io/acme/app', true],
  // `*` stays within a segment, `**` crosses them.
  ['ghcr.io/*', 'ghcr.io/foo', true],
  ['ghcr.io/*', 'ghcr.io/foo/bar', false],
  ['ghcr.io/*/*', 'ghcr.io/foo', false],
  ['ghcr.io/*/*', 'ghcr.io/foo/bar', true],
  ['ghcr.io/**', 'ghcr.io/foo', true],
  ['ghcr.io/**', 'ghcr.io/foo/bar/baz', true],
  ['ghcr.io/acme/**', 'ghcr.io/acme/app', true],
  ['ghcr.io/acme/**', 'ghcr.io/acme/team/app', true],
  ['ghcr.io/acme/**', 'ghcr.io/acme', false],
  ['ghcr.io/acme/**', 'ghcr.io/acme-evil/app', false],
  ['ghcr.io/acme**', 'ghcr.io/acme-evil/app', true],
  ['ghcr.io/foo*', 'ghcr.io/foo', true],
  ['ghcr.io/foo*', 'ghcr.io/foobar', true],
  ['ghcr.io/foo*', 'ghcr.io/foo/bar', false],
  ['ghcr.io/*-app', 'ghcr.io/my-app', true],
  ['ghcr.io/*-app', 'ghcr.io/my-app2', false],
  ['ghcr.io/**/app', 'ghcr.io/a/b/app', true],
  ['ghcr.io/**/app', 'ghcr.io/app', false],
  ['**/nginx', 'nginx', true],
  ['**/nginx', 'evil.example/x/nginx', true],
  ['**/nginx', 'evil.example/x/nginx-2', false],
  ['**', 'nginx', true],
  ['**', 'localhost:5000/a/b:c', true],
  ['*/*', 'ghcr.io/foo', true],
  ['*/*', 'nginx', false],
  ['*/**', 'ghcr.io/foo/bar', true],
  ['*.io/**', 'ghcr.io/foo', true],
  ['*.io/**', 'ghcr.com/foo', false],
  ['*:5000/app', 'localhost:5000/app', true],
  ['*:5000/app', 'localhost:5001/app', false],
  // Anchored, and `.` is literal.
  ['ghcr.io/foo', 'prefix-ghcr.io/foo', false],
  ['ghcr.io/foo', 'ghcr.io/foo/bar', false],
  ['ghcr.io/foo', 'ghcr.io/foobar', false],
  ['ghcr.io/**', 'ghcrxio/foo', false],
  ['ghcr.io/**', 'ghcr.io.evil.com/foo', false],
  ['ghcr.io/**', 'ghcr.io:443/foo', false],
  // Ports and IPv6 hosts.
  ['localhost:5000/x', 'localhost:5000/x:v1', true],
  ['localhost:5000/x', 'localhost/x', false],
  ['localhost:5000/**', 'localhost:5000/a/b', true],
  ['localhost/**', 'localhost:5000/a', false],
  ['[::1]:5000/x', '[0:0::1]:5000/x', true],
  // Tag parts: the image must have a matching tag; nothing written means `latest`.
  ['ghcr.io/foo:v1', 'ghcr.io/foo:v1', true],
  ['ghcr.io/foo:v1', 'ghcr.io/foo:v1.2', false],
  ['ghcr.io/foo:v1', 'ghcr.io/foo', false],
  ['ghcr.io/foo:v1.*', 'ghcr.io/foo:v1.2', true],
  ['ghcr.io/foo:v1.*', 'ghcr.io/foo:v2.1', false],
  ['ghcr.io/foo:*', 'ghcr.io/foo:anything', true],
  ['ghcr.io/foo:**', 'ghcr.io/foo:anything', true],
  ['ghcr.io/foo:*', `ghcr.io/foo@${D1}`, false],
  ['ghcr.io/foo:*', `ghcr.io/foo:v1@${D1}`, true],
  ['nginx:latest', 'nginx', true],
  ['nginx:latest', 'nginx:1', false],
  ['nginx:Latest', 'nginx:latest', false],
  ['**:latest', 'ghcr.io/a/b', true],
  ['ghcr.io/**:v1', 'ghcr.io/a/b:v1', true],
  ['x:5000', 'x:5000', true],
  ['x:5000', 'x:5001', false],
  // Digest parts: the image must be written with a matching digest.
  [`ghcr.io/foo@${D1}`, `ghcr.io/foo@${D1}`, true],
  [`ghcr.io/foo@${D1}`, `ghcr.io/foo:v1@${D1}`, true],
  [`ghcr.io/foo@${D1}`, `ghcr.io/foo@${D2}`, false],
  [`ghcr.io/foo@${D1}`, 'ghcr.io/foo:v1', false],
  ['ghcr.io/foo@sha256:*', `ghcr.io/foo@${D1}`, true],
  ['ghcr.io/foo@sha256:*', `ghcr.io/foo@${D512}`, false],
  ['ghcr.io/foo@*', `ghcr.io/foo@${D512}`, true],
  ['ghcr.io/foo@*', 'ghcr.io/foo:v1', false],
  [`ghcr.io/foo:v1@${D1}`, `ghcr.io/foo:v1@${D1}`, true],
  [`ghcr.io/foo:v1@${D1}`, `ghcr.io/foo:v2@${D1}`, false],
  [`ghcr.io/foo:v1@${D1}`, `ghcr.io/foo@${D1}`, false],
  // Without tag or digest parts, any tag and any digest.
  ['ghcr.io/foo', `ghcr.io/foo:v1@${D1}`, true],
  ['ghcr.io/foo', `ghcr.io/foo@${D1}`, true],
];

for (const [glob, image, expected] of cases) {
  void test(`${glob} ${expected ? 'matches' : 'does not match'} ${image.length > 70 ? image.slice(0, 70) + '...' : image}`, () => {
    assert.equal(compileImagePattern(glob).matches(parseReference(image)), expected);
  });
}

const normalized: [string, string][] = [
  ['nginx', 'docker.io/library/nginx'],
  ['nginx:1.*', 'docker.io/library/nginx:1.*'],
  ['acme/app', 'docker.io/acme/app'],
  ['acme/*', 'docker.io/acme/*'],
  ['docker.io/*', 'docker.io/library/*'],
  ['docker.io/nginx*', 'docker.io/library/nginx*'],
  ['docker.io/**', 'docker.io/**'],
  ['index.docker.io/**', 'docker.io/**'],
  ['GHCR.IO/acme/**', 'ghcr.io/acme/**'],
  ['*.IO/**', '*.io/**'],
  ['**', '**'],
  ['x:5000/y', 'x:5000/y'],
  ['x:5000', 'docker.io/library/x:5000'],
  ['[0:0::1]:5000/x', '[::1]:5000/x'],
  ['ghcr.io/foo@sha256:*', 'ghcr.io/foo@sha256:*'],
];

for (const [glob, expected] of normalized) {
  void test(`${glob} is normalized to ${expected}`, () => {
    const pattern = compileImagePattern(glob);
    assert.equal(pattern.normalized, expected);
    assert.equal(pattern.pattern, glob);
  });
}

/** [glob, 0-based position, detail] */
const invalid: [string, number, string][] = [
  ['', 0, 'empty pattern'],
  [':v1', 0, "missing image name (write '**' for any image)"],
  ['@sha256:*', 0, "missing image name (write '**' for any image)"],
  ['[a-z]*', 0, "'[' is not allowed: character classes and alternatives are not supported"],
  ['ghcr.io/[ab]pp', 8, "'[' is not allowed: character classes and alternatives are not supported"],
  ['ghcr.io/{a,b}', 8, "'{' is not allowed: character classes and alternatives are not supported"],
  ['ghcr.io/app?', 11, "'?' is not a wildcard here: only '*' and '**' are"],
  ['.+', 1, "'+' is not allowed: patterns are globs, not regular expressions"],
  ['ghcr.io/.*', 8, "path component may not start with '.'"],
  ['ghcr.io/a-*-', 11, "path component may not end with '-'"],
  ['ghcr.io/_*/x', 8, "path component may not start with '_'"],
  ['ghcr.io/(a|b)', 8, "'(' is not allowed: patterns are globs, not regular expressions"],
  ['^ghcr.io/x$', 0, "'^' is not allowed in the registry host: patterns are globs, not regular expressions"],
  ['ghcr.io/foo bar', 11, "unexpected character ' ' (space)"],
  [' ghcr.io/foo', 0, "unexpected character ' ' (space) in the registry host"],
  ['ghcr.io/foo\t', 11, 'unexpected character U+0009'],
  ['ghcr.io/***', 8, "'***' is not a wildcard: use '*' within a segment or '**' across segments"],
  ['ghcr.io/Foo', 8, 'repository name must be lowercase'],
  ['Nginx', 0, 'repository name must be lowercase'],
  ['acme/App*', 5, 'repository name must be lowercase'],
  ['Acme/app', 0, 'repository name must be lowercase'],
  ['ghcr.io//foo', 8, 'empty path segment'],
  ['ghcr.io/foo/', 12, 'empty path segment'],
  ['/foo', 0, 'empty path segment'],
  ['*/', 2, 'empty path segment'],
  ['ghcr.io/a..b', 9, "'..' is not a valid separator (use '.', '_', '__' or a run of '-')"],
  ['ghcr.io/a/b:c/d', 11, "':' is only allowed in the registry host, for its port"],
  ['gh_cr.io/x', 2, "unexpected character '_' in the registry host"],
  ['*_x.io/x', 1, "unexpected character '_' in the registry host"],
  ['localhost:05000/x', 10, 'port number may not start with 0'],
  ['[::1]*/x', 5, 'an IPv6 host cannot contain wildcards'],
  ['[::1:5000/x', 0, "'[' without a closing ']' around an IPv6 address"],
  [
    '*',
    0,
    "this pattern can never match: image names are matched as registry/repository, so a pattern needs a '/' or '**' (write '**' for every image)",
  ],
  [
    'nginx*',
    0,
    "this pattern can never match: image names are matched as registry/repository, so a pattern needs a '/' or '**' (write '**' for every image or 'docker.io/library/nginx*')",
  ],
  ['ghcr.io/foo:', 11, "':' must be followed by a tag pattern"],
  // The tag part starts after the last '/', so this ':' is in the name.
  ['ghcr.io/foo:v/1', 11, "':' is only allowed in the registry host, for its port"],
  ['ghcr.io/foo:.v1', 12, "tag may not start with '.'"],
  ['ghcr.io/foo:v1?', 14, "'?' is not a wildcard here: only '*' and '**' are"],
  ['ghcr.io/foo:' + 't'.repeat(129), 140, 'tag is longer than 128 characters'],
  ['ghcr.io/foo@', 11, "'@' must be followed by a digest pattern"],
  ['ghcr.io/foo@sha256:abc', 19, 'digest sha256 must have 64 hex characters, found 3'],
  ['ghcr.io/foo@sha256:' + 'A'.repeat(64), 19, 'digest must be lowercase'],
  ['ghcr.io/foo@md5:*', 12, "unsupported digest algorithm 'md5' (supported: sha256, sha512)"],
  ['ghcr.io/foo@sha256:*/x', 20, "unexpected character '/' in the digest"],
  ['ghcr.io/' + 'a'.repeat(1100), 1024, 'pattern is longer than 1024 characters'],
];

for (const [glob, position, detail] of invalid) {
  void test(`invalid pattern ${JSON.stringify(glob.length > 60 ? glob.slice(0, 60) + '...' : glob)}: ${detail}`, () => {
    assert.throws(
      () => compileImagePattern(glob),
      (error: unknown) => {
        assert.ok(error instanceof PatternError);
        assert.equal(error.code, 'PATTERN_INVALID');
        assert.equal(error.pattern, glob);
        assert.deepEqual({ position: error.position, detail: error.detail }, { position, detail });
        return true;
      },
    );
  });
}

void test('the pattern error message quotes the pattern and gives the 1-based position', () => {
  assert.throws(() => compileImagePattern('ghcr.io/Foo'), {
    message: 'invalid pattern "ghcr.io/Foo": repository name must be lowercase at position 9',
  });
});

void test('matching is linear: adversarial names against many-star patterns finish and answer correctly', () => {
  // A backtracking translation (`^(?:[^/]*a){30}...$`) of these patterns takes time exponential in the
  // number of stars on these inputs; the NFA walks each input once.
  const stars = compileImagePattern('ghcr.io/' + '*a'.repeat(30) + 'b');
  const doubleStars = compileImagePattern('ghcr.io/' + '**a'.repeat(30) + 'b');
  const name = (repository: string): ImageReference => ({ original: '', registry: 'ghcr.io', repository });
  const long = 'a'.repeat(200_000);
  assert.equal(stars.matches(name(long)), false);
  assert.equal(stars.matches(name(long + 'b')), true);
  assert.equal(doubleStars.matches(name(long)), false);
  assert.equal(doubleStars.matches(name('a/'.repeat(50_000) + 'b')), false);
  assert.equal(doubleStars.matches(name('a/'.repeat(50_000) + 'ab')), true);
  const tag = compileStringPattern('*a'.repeat(30) + 'b');
  assert.equal(tag.matches(long), false);
});

void test('string patterns: * is any run, anchored, case-sensitive', () => {
  const p = compileStringPattern('v1.*');
  assert.equal(p.pattern, 'v1.*');
  assert.equal(p.matches('v1.2'), true);
  assert.equal(p.matches('v1.'), true);
  assert.equal(p.matches('v1'), false);
  assert.equal(p.matches('xv1.2'), false);
  assert.equal(p.matches('V1.2'), false);
  assert.equal(compileStringPattern('latest').matches('latest'), true);
  assert.equal(compileStringPattern('latest').matches('latest2'), false);
  assert.equal(compileStringPattern('*').matches(''), true);
  assert.equal(compileStringPattern('a*b*c').matches('a-x-b-y-c'), true);
  assert.equal(compileStringPattern('a*b*c').matches('a-x-c-y-b'), false);
  assert.equal(compileStringPattern('**').matches('a.b'), true);
});

void test('string patterns reject other syntax with positions', () => {
  assert.throws(() => compileStringPattern(''), {
    code: 'PATTERN_INVALID',
    position: 0,
    detail: 'empty pattern',
  });
  assert.throws(() => compileStringPattern('v?'), {
    position: 1,
    detail: "'?' is not a wildcard here: only '*' and '**' are",
  });
  assert.throws(() => compileStringPattern('v[12]'), { position: 1 });
  assert.throws(() => compileStringPattern('v1 '), {
    position: 2,
    detail: "unexpected character ' ' (space)",
  });
  assert.throws(() => compileStringPattern('.+'), { position: 1 });
});

void test('host patterns: normalized like registries, * for subdomains', () => {
  const registryOf = (image: string) => parseReference(image).registry;
  const sub = compileHostPattern('*.example.com');
  assert.equal(sub.matches(registryOf('a.example.com/x')), true);
  assert.equal(sub.matches(registryOf('a.b.example.com/x')), true);
  assert.equal(sub.matches(registryOf('example.com/x')), false);
  assert.equal(sub.matches(registryOf('a.example.com:5000/x')), false);
  assert.equal(sub.matches(registryOf('evil-example.com/x')), false);
  assert.equal(compileHostPattern('Index.Docker.IO').matches(registryOf('nginx')), true);
  assert.equal(compileHostPattern('docker.io').matches(registryOf('registry-1.docker.io/x')), true);
  assert.equal(compileHostPattern('GHCR.IO').matches(registryOf('ghcr.io/x')), true);
  assert.equal(compileHostPattern('localhost:5000').matches(registryOf('localhost:5000/x')), true);
  assert.equal(compileHostPattern('localhost:5000').matches(registryOf('localhost/x')), false);
  assert.equal(compileHostPattern('[0::1]:5000').matches(registryOf('[::1]:5000/x')), true);
  assert.throws(() => compileHostPattern('ghcr.io/x'), {
    position: 7,
    detail: "unexpected character '/' in the registry host",
  });
  assert.throws(() => compileHostPattern('*.exa_mple.com'), {
    position: 5,
    detail: "unexpected character '_' in the registry host",
  });
  assert.throws(() => compileHostPattern('[::1]*'), {
    position: 0,
    detail: 'an IPv6 host cannot contain wildcards',
  });
});
