import { test } from 'node:test';
import assert from 'node:assert/strict';
import { parseReference, ReferenceParseError } from '../../src/reference/index.ts';

const SHA256 = 'sha256:' + 'a1'.repeat(32);
const SHA512 = 'sha512:' + 'b2'.repeat(64);

interface Valid {
  readonly input: string;
  readonly registry: string;
  readonly repository: string;
  readonly tag?: string;
  readonly digest?: string;
}

const valid: Valid[] = [
  { input: 'nginx', registry: 'docker.io', repository: 'library/nginx' },
  { input: 'nginx:1.25', registry: 'docker.io', repository: 'library/nginx', tag: '1.25' },
  { input: 'user/app:1', registry: 'docker.io', repository: 'user/app', tag: '1' },
  { input: 'docker.io/nginx', registry: 'docker.io', repository: 'library/nginx' },
  { input: 'docker.io/library/nginx', registry: 'docker.io', repository: 'library/nginx' },
  { input: 'index.docker.io/library/nginx', registry: 'docker.io', repository: 'library/nginx' },
  { input: 'index.docker.io/nginx', registry: 'docker.io', repository: 'library/nginx' },
  { input: 'registry-1.docker.io/x', registry: 'docker.io', repository: 'library/x' },
  { input: 'registry-1.docker.io/acme/x', registry: 'docker.io', repository: 'acme/x' },
  { input: 'docker.io:443/x', registry: 'docker.io:443', repository: 'x' },
  // `x:5000` is repository x with tag 5000 on Docker Hub; with a path after it, x:5000 is a host.
  { input: 'x:5000', registry: 'docker.io', repository: 'library/x', tag: '5000' },
  { input: 'x:5000/y', registry: 'x:5000', repository: 'y' },
  { input: 'localhost:5000', registry: 'docker.io', repository: 'library/localhost', tag: '5000' },
  { input: 'localhost/x', registry: 'localhost', repository: 'x' },
  { input: 'localhost:5000/x', registry: 'localhost:5000', repository: 'x' },
  { input: 'localhost:5000/x:v1', registry: 'localhost:5000', repository: 'x', tag: 'v1' },
  { input: '127.0.0.1:5000/a/b/c', registry: '127.0.0.1:5000', repository: 'a/b/c' },
  { input: '[::1]:5000/x', registry: '[::1]:5000', repository: 'x' },
  { input: '[::1]/x', registry: '[::1]', repository: 'x' },
  { input: '[0:0:0:0:0:0:0:1]/x', registry: '[::1]', repository: 'x' },
  { input: '[2001:DB8::1]:443/x', registry: '[2001:db8::1]:443', repository: 'x' },
  { input: 'GHCR.IO/acme/app', registry: 'ghcr.io', repository: 'acme/app' },
  {
    input: 'ghcr.io/acme/app:v1@' + SHA256,
    registry: 'ghcr.io',
    repository: 'acme/app',
    tag: 'v1',
    digest: SHA256,
  },
  { input: 'ghcr.io/acme/app@' + SHA256, registry: 'ghcr.io', repository: 'acme/app', digest: SHA256 },
  { input: 'nginx@' + SHA512, registry: 'docker.io', repository: 'library/nginx', digest: SHA512 },
  { input: 'a.b/c_d/e__f/g-h/i---j/k.l', registry: 'a.b', repository: 'c_d/e__f/g-h/i---j/k.l' },
  { input: 'a-b.example.com/x', registry: 'a-b.example.com', repository: 'x' },
  { input: 'x:_Tag-1.2', registry: 'docker.io', repository: 'library/x', tag: '_Tag-1.2' },
  { input: 'x:' + 't'.repeat(128), registry: 'docker.io', repository: 'library/x', tag: 't'.repeat(128) },
  { input: 'a.io/' + 'a'.repeat(250), registry: 'a.io', repository: 'a'.repeat(250) },
  { input: 'a'.repeat(237), registry: 'docker.io', repository: 'library/' + 'a'.repeat(237) },
  // 63 hex characters are a name, only exactly 64 are an image ID.
  { input: 'a'.repeat(63), registry: 'docker.io', repository: 'library/' + 'a'.repeat(63) },
];

for (const c of valid) {
  void test(`parses ${c.input.length > 60 ? c.input.slice(0, 60) + '...' : c.input}`, () => {
    const ref = parseReference(c.input);
    const expected: Record<string, string> = {
      original: c.input,
      registry: c.registry,
      repository: c.repository,
    };
    if (c.tag !== undefined) expected.tag = c.tag;
    if (c.digest !== undefined) expected.digest = c.digest;
    assert.deepEqual({ ...ref }, expected);
  });
}

interface Invalid {
  readonly input: string;
  /** 0-based. */
  readonly position: number;
  readonly detail: string;
}

const invalid: Invalid[] = [
  { input: '', position: 0, detail: 'empty reference' },
  { input: ' ', position: 0, detail: "unexpected character ' ' (space)" },
  { input: ' nginx', position: 0, detail: "unexpected character ' ' (space)" },
  { input: 'nginx ', position: 5, detail: "unexpected character ' ' (space)" },
  { input: 'nginx\n', position: 5, detail: 'unexpected character U+000A' },
  { input: 'ng!nx', position: 2, detail: "unexpected character '!'" },
  { input: 'nginx:1!', position: 7, detail: "unexpected character '!' in the tag" },
  { input: 'Nginx', position: 0, detail: 'repository name must be lowercase' },
  { input: 'acme/App', position: 5, detail: 'repository name must be lowercase' },
  // Docker would read 'Foo' as a host; lower-cased it would read back as a namespace, so it is refused.
  { input: 'Foo/bar', position: 0, detail: 'repository name must be lowercase' },
  { input: 'MyOrg/app:v1', position: 0, detail: 'repository name must be lowercase' },
  { input: 'ghcr.io/acme/myApp:v1', position: 15, detail: 'repository name must be lowercase' },
  { input: 'GHCR.IO/Acme/app', position: 8, detail: 'repository name must be lowercase' },
  { input: 'nginx:', position: 5, detail: "':' must be followed by a tag" },
  { input: 'nginx@', position: 5, detail: "'@' must be followed by a digest" },
  { input: 'nginx:v1@', position: 8, detail: "'@' must be followed by a digest" },
  { input: ':v1', position: 0, detail: 'missing repository name' },
  { input: '@' + SHA256, position: 0, detail: 'missing repository name' },
  { input: 'a//b', position: 2, detail: 'empty path component' },
  { input: 'ghcr.io//b', position: 8, detail: 'empty path component' },
  { input: '/nginx', position: 0, detail: 'empty path component' },
  { input: 'nginx/', position: 6, detail: 'empty path component' },
  { input: 'ghcr.io/', position: 8, detail: 'empty path component' },
  { input: '-nginx', position: 0, detail: "path component may not start with '-'" },
  { input: 'acme/.app', position: 5, detail: "path component may not start with '.'" },
  { input: 'nginx-', position: 5, detail: "path component may not end with '-'" },
  { input: 'nginx__', position: 5, detail: "path component may not end with '__'" },
  {
    input: 'a..b',
    position: 1,
    detail: "'..' is not a valid separator (use '.', '_', '__' or a run of '-')",
  },
  {
    input: 'a___b',
    position: 1,
    detail: "'___' is not a valid separator (use '.', '_', '__' or a run of '-')",
  },
  {
    input: 'a.-b',
    position: 1,
    detail: "'.-' is not a valid separator (use '.', '_', '__' or a run of '-')",
  },
  { input: '.io/x', position: 0, detail: 'missing registry host' },
  { input: 'a..io/x', position: 2, detail: 'empty host name component' },
  { input: 'a.io./x', position: 5, detail: 'empty host name component' },
  { input: '-a.io/x', position: 0, detail: "host name component may not start with '-'" },
  { input: 'a-.io/x', position: 1, detail: "host name component may not end with '-'" },
  { input: 'a_b.io/x', position: 1, detail: "unexpected character '_' in the registry host" },
  { input: ':5000/x', position: 0, detail: 'missing registry host' },
  { input: 'localhost:/x', position: 9, detail: "':' must be followed by a port number" },
  { input: 'localhost:50a/x', position: 12, detail: "unexpected character 'a' in the port number" },
  { input: 'localhost:05000/x', position: 10, detail: 'port number may not start with 0' },
  { input: 'localhost:65536/x', position: 10, detail: 'port number 65536 is out of range (1-65535)' },
  { input: '[::1/x', position: 0, detail: "'[' without a closing ']' around an IPv6 address" },
  { input: '[::g]/x', position: 3, detail: "unexpected character 'g' in an IPv6 address" },
  { input: '[1:2:3]/x', position: 1, detail: "'1:2:3' is not a valid IPv6 address" },
  { input: '[::1]x/y', position: 5, detail: "unexpected character 'x' after the registry host" },
  { input: '[::1]:5000', position: 0, detail: "unexpected character '['" },
  { input: 'x:.v1', position: 2, detail: "tag may not start with '.'" },
  { input: 'x:-v1', position: 2, detail: "tag may not start with '-'" },
  { input: 'x:' + 't'.repeat(129), position: 130, detail: 'tag is longer than 128 characters' },
  // A ':' before a '/' makes the first component a host, so 'a' is read as a port.
  { input: 'x:a/b', position: 2, detail: "unexpected character 'a' in the port number" },
  {
    input: 'nginx@sha256:abc123abc123',
    position: 13,
    detail: 'digest sha256 must have 64 hex characters, found 12',
  },
  { input: 'nginx@sha256:', position: 13, detail: 'digest sha256 must have 64 hex characters, found 0' },
  {
    input: 'nginx@sha256:' + 'a'.repeat(65),
    position: 13 + 64,
    detail: 'digest sha256 must have 64 hex characters, found 65',
  },
  {
    input: 'nginx@sha512:' + 'a'.repeat(64),
    position: 13,
    detail: 'digest sha512 must have 128 hex characters, found 64',
  },
  { input: 'nginx@sha256:' + 'A'.repeat(64), position: 13, detail: 'digest hex must be lowercase' },
  { input: 'nginx@sha256:' + 'g'.repeat(64), position: 13, detail: "unexpected character 'g' in the digest" },
  { input: 'nginx@SHA256:' + 'a'.repeat(64), position: 6, detail: 'digest algorithm must be lowercase' },
  {
    input: 'nginx@md5:d41d8cd98f00b204e9800998ecf8427e',
    position: 6,
    detail: "unsupported digest algorithm 'md5' (supported: sha256, sha512)",
  },
  {
    input: 'nginx@blake3:' + 'a'.repeat(64),
    position: 6,
    detail: "unsupported digest algorithm 'blake3' (supported: sha256, sha512)",
  },
  {
    input: 'nginx@sha256+b64:abc',
    position: 6,
    detail: "unsupported digest algorithm 'sha256+b64' (supported: sha256, sha512)",
  },
  { input: 'nginx@sha--256:abc', position: 6, detail: "'sha--256' is not a valid digest algorithm name" },
  { input: 'nginx@:abc', position: 6, detail: "missing digest algorithm before ':'" },
  {
    input: 'nginx@' + 'a'.repeat(64),
    position: 6,
    detail: 'digest must be written as algorithm:hex, e.g. sha256:<64 hex characters>',
  },
  {
    input: `nginx@${SHA256}@${SHA256}`,
    position: 6 + 71,
    detail: 'digest sha256 must have 64 hex characters, found 136',
  },
  {
    input: `nginx@sha256:${'a'.repeat(10)}@x`,
    position: 23,
    detail: "unexpected character '@' in the digest",
  },
  {
    input: 'a'.repeat(64),
    position: 0,
    detail: 'a 64-character hexadecimal string is an image ID, not a reference',
  },
  // Name length: 255 characters once normalized, the position is the first character over the limit.
  { input: 'a.io/' + 'a'.repeat(251), position: 255, detail: 'name is longer than 255 characters' },
  {
    input: 'a'.repeat(256),
    position: 237,
    detail: 'name is longer than 255 characters (274 once normalized to docker.io/library/...)',
  },
  {
    input: 'a'.repeat(238),
    position: 237,
    detail: 'name is longer than 255 characters (256 once normalized to docker.io/library/...)',
  },
  {
    input: 'acme/' + 'a'.repeat(241),
    position: 245,
    detail: 'name is longer than 255 characters (256 once normalized to docker.io/...)',
  },
  // The length problem at 255 comes before a bad character further on.
  { input: 'a.io/' + 'a'.repeat(260) + '!', position: 255, detail: 'name is longer than 255 characters' },
  // ...and after a bad character before it.
  { input: 'a.io/a!' + 'a'.repeat(260), position: 6, detail: "unexpected character '!'" },
  { input: 'nginx:v1\ud800', position: 8, detail: 'unexpected character U+D800 in the tag' },
  { input: 'nginx\u00a0', position: 5, detail: 'unexpected character U+00A0' },
  { input: 'nginx:v1\u00e9', position: 8, detail: "unexpected character 'é' in the tag" },
  { input: 'nginx:v1\u{1f600}', position: 8, detail: "unexpected character '\u{1f600}' in the tag" },
];

for (const c of invalid) {
  void test(`rejects ${JSON.stringify(c.input.length > 60 ? c.input.slice(0, 60) + '...' : c.input)}: ${c.detail}`, () => {
    assert.throws(
      () => parseReference(c.input),
      (error: unknown) => {
        assert.ok(error instanceof ReferenceParseError);
        assert.equal(error.code, 'REFERENCE_INVALID');
        assert.equal(error.input, c.input);
        assert.deepEqual(
          { position: error.position, detail: error.detail },
          { position: c.position, detail: c.detail },
        );
        return true;
      },
    );
  });
}

void test('the error message names the input, the problem and the 1-based position', () => {
  assert.throws(() => parseReference('acme/App'), {
    message: 'invalid image reference "acme/App": repository name must be lowercase at position 6',
  });
});

void test('a huge input is quoted cut short in the message, but kept whole in the error', () => {
  const input = 'a'.repeat(100_000);
  assert.throws(
    () => parseReference(input),
    (error: unknown) => {
      assert.ok(error instanceof ReferenceParseError);
      assert.equal(error.input, input);
      assert.equal(error.position, 237);
      assert.ok(error.message.length < 600, `message is ${error.message.length} characters`);
      assert.match(error.message, /\.\.\. \(100000 characters\): name is longer than 255 characters/);
      return true;
    },
  );
});

void test('a non-string (from untyped input such as YAML) is a parse error, not a TypeError', () => {
  assert.throws(() => parseReference(42 as unknown as string), {
    name: 'ReferenceParseError',
    detail: 'reference must be a string, not number',
  });
});

void test('parsed references are frozen', () => {
  const ref = parseReference('nginx');
  assert.ok(Object.isFrozen(ref));
});
