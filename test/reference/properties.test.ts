/**
 * Property tests: references generated from the distribution grammar parse to what the grammar says,
 * the canonical and familiar forms round-trip, patterns made from a reference match it, and no input at
 * all makes the parser or the pattern compiler fail in any way but their own positioned errors.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import type { ImageReference } from '../../src/reference/index.ts';
import {
  canonical,
  compileImagePattern,
  familiar,
  parseReference,
  PatternError,
  ReferenceParseError,
  repositoryName,
} from '../../src/reference/index.ts';
import type { GlobToken } from '../../src/reference/glob.ts';
import { compileTokens, DOUBLE_STAR, STAR, tokenize } from '../../src/reference/glob.ts';

const RUNS = { numRuns: 500 };

const alnum = fc.stringMatching(/^[a-z0-9]{1,6}$/);
const separator = fc.constantFrom('.', '_', '__', '-', '--', '---');
const component = fc
  .tuple(alnum, fc.array(fc.tuple(separator, alnum), { maxLength: 2 }))
  .map(([head, rest]) => head + rest.map(([s, a]) => s + a).join(''));
const path = fc.array(component, { minLength: 1, maxLength: 4 }).map((cs) => cs.join('/'));
const label = fc.stringMatching(/^[a-zA-Z0-9](?:[a-zA-Z0-9-]{0,6}[a-zA-Z0-9])?$/);
const host = fc.oneof(
  fc.array(label, { minLength: 2, maxLength: 3 }).map((ls) => ls.join('.')),
  fc.constant('localhost'),
  fc.ipV4(),
  fc
    .ipV6()
    .filter((a) => !a.includes('.'))
    .map((a) => `[${a}]`),
  fc.constantFrom('docker.io', 'index.docker.io', 'registry-1.docker.io', 'Docker.IO', 'ghcr.io', 'quay.io'),
);
const domain = fc
  .tuple(host, fc.option(fc.integer({ min: 1, max: 65535 }), { nil: undefined }))
  .map(([h, p]) => (p === undefined ? h : `${h}:${p}`));
const tag = fc.stringMatching(/^[\w][\w.-]{0,127}$/);
const digest = fc.oneof(
  fc.stringMatching(/^[a-f0-9]{64}$/).map((h) => `sha256:${h}`),
  fc.stringMatching(/^[a-f0-9]{128}$/).map((h) => `sha512:${h}`),
);

interface Parts {
  readonly domain: string | undefined;
  readonly path: string;
  readonly tag: string | undefined;
  readonly digest: string | undefined;
}

const parts: fc.Arbitrary<Parts> = fc
  .record({
    domain: fc.option(domain, { nil: undefined }),
    path,
    tag: fc.option(tag, { nil: undefined }),
    digest: fc.option(digest, { nil: undefined }),
  })
  // Without a host, a first path component with a '.' would itself be read as a host.
  .filter((p) => p.domain !== undefined || !p.path.includes('/') || !p.path.split('/')[0]!.includes('.'));

function written(p: Parts): string {
  return (
    (p.domain === undefined ? '' : `${p.domain}/`) +
    p.path +
    (p.tag === undefined ? '' : `:${p.tag}`) +
    (p.digest === undefined ? '' : `@${p.digest}`)
  );
}

/** The normalization, restated independently of the parser. */
function expectedRegistry(d: string | undefined): string {
  if (d === undefined) return 'docker.io';
  let h = d.toLowerCase();
  if (h.startsWith('[')) {
    const close = h.indexOf(']');
    h = new URL(`http://${h.slice(0, close + 1)}/`).hostname + h.slice(close + 1);
  }
  return h === 'index.docker.io' || h === 'registry-1.docker.io' ? 'docker.io' : h;
}

void test('generated references parse to their grammar parts', () => {
  fc.assert(
    fc.property(parts, (p) => {
      const ref = parseReference(written(p));
      const registry = expectedRegistry(p.domain);
      const repository = registry === 'docker.io' && !p.path.includes('/') ? `library/${p.path}` : p.path;
      assert.equal(ref.original, written(p));
      assert.equal(ref.registry, registry);
      assert.equal(ref.repository, repository);
      assert.equal(ref.tag, p.tag);
      assert.equal(ref.digest, p.digest);
    }),
    RUNS,
  );
});

void test('canonical and familiar forms re-parse to the same canonical reference', () => {
  fc.assert(
    fc.property(parts, (p) => {
      const ref = parseReference(written(p));
      const c = canonical(ref);
      const again = parseReference(c);
      assert.equal(canonical(again), c);
      assert.equal(repositoryName(again), repositoryName(ref));
      assert.equal(again.digest, ref.digest);
      assert.equal(again.tag, ref.tag ?? (ref.digest === undefined ? 'latest' : undefined));
      assert.equal(canonical(parseReference(familiar(ref))), c);
      assert.equal(familiar(parseReference(familiar(ref))), familiar(ref));
    }),
    RUNS,
  );
});

void test('patterns made from a reference match it', () => {
  fc.assert(
    fc.property(parts, (p) => {
      const ref = parseReference(written(p));
      assert.ok(compileImagePattern(canonical(ref)).matches(ref), canonical(ref));
      assert.ok(compileImagePattern(familiar(ref)).matches(ref), familiar(ref));
      const byName = compileImagePattern(repositoryName(ref));
      assert.equal(byName.normalized, repositoryName(ref));
      assert.ok(byName.matches(ref));
      assert.ok(compileImagePattern(`${ref.registry}/**`).matches(ref));
      assert.ok(compileImagePattern('**').matches(ref));
    }),
    RUNS,
  );
});

void test('a name pattern matches another reference only when the repository names are equal', () => {
  fc.assert(
    fc.property(parts, parts, (a, b) => {
      const ra = parseReference(written(a));
      const rb = parseReference(written(b));
      assert.equal(
        compileImagePattern(repositoryName(ra)).matches(rb),
        repositoryName(ra) === repositoryName(rb),
      );
    }),
    RUNS,
  );
});

void test('an upper-case letter in the repository path is refused at its position', () => {
  fc.assert(
    fc.property(domain, path, fc.nat(), (d, pth, n) => {
      const letters = [...pth].map((c, i) => (/[a-z]/.test(c) ? i : -1)).filter((i) => i >= 0);
      fc.pre(letters.length > 0);
      const index = letters[n % letters.length]!;
      const input = `${d}/${pth.slice(0, index)}${pth[index]!.toUpperCase()}${pth.slice(index + 1)}`;
      assert.throws(() => parseReference(input), {
        position: d.length + 1 + index,
        detail: 'repository name must be lowercase',
      });
    }),
    RUNS,
  );
});

const referenceish = fc.string({
  unit: fc.constantFrom(...'aAz09._-/:@[]*!? \u00e9'.split(''), 'sha256:', 'localhost', 'docker.io', '**'),
  maxLength: 40,
});

function checkOutcome(
  input: string,
  attempt: () => void,
  errorType: typeof ReferenceParseError | typeof PatternError,
) {
  try {
    attempt();
  } catch (error) {
    assert.ok(error instanceof errorType, `${JSON.stringify(input)} threw ${String(error)}`);
    assert.ok(
      error.position >= 0 && error.position <= input.length,
      `position ${error.position} in ${JSON.stringify(input)}`,
    );
    assert.ok(error.detail.length > 0);
  }
}

void test('any input either parses (and round-trips) or fails with a positioned ReferenceParseError', () => {
  fc.assert(
    fc.property(fc.oneof(referenceish, fc.string({ unit: 'binary', maxLength: 40 })), (input) => {
      checkOutcome(
        input,
        () => {
          const ref: ImageReference = parseReference(input);
          assert.equal(canonical(parseReference(canonical(ref))), canonical(ref));
        },
        ReferenceParseError,
      );
    }),
    { numRuns: 2000 },
  );
});

void test('any pattern text either compiles or fails with a positioned PatternError', () => {
  fc.assert(
    fc.property(fc.oneof(referenceish, fc.string({ unit: 'binary', maxLength: 40 })), (input) => {
      checkOutcome(
        input,
        () => {
          const pattern = compileImagePattern(input);
          // Normalization is idempotent.
          assert.equal(compileImagePattern(pattern.normalized).normalized, pattern.normalized);
        },
        PatternError,
      );
    }),
    { numRuns: 2000 },
  );
});

/** The obvious backtracking matcher, fine on tiny inputs: the reference the NFA is checked against. */
function naive(tokens: readonly GlobToken[], s: string, ti = 0, si = 0): boolean {
  if (ti === tokens.length) return si === s.length;
  const t = tokens[ti]!;
  if (typeof t === 'string') return si < s.length && s[si] === t && naive(tokens, s, ti + 1, si + 1);
  for (let end = si; end <= s.length; end++) {
    if (naive(tokens, s, ti + 1, end)) return true;
    if (end < s.length && t === STAR && s[end] === '/') return false;
  }
  return false;
}

void test('the NFA glob matcher agrees with a backtracking matcher', () => {
  const globText = fc.string({ unit: fc.constantFrom('a', 'b', '/', '*'), maxLength: 8 });
  const input = fc.string({ unit: fc.constantFrom('a', 'b', '/'), maxLength: 10 });
  fc.assert(
    fc.property(globText, input, fc.boolean(), (g, s, crossing) => {
      const tokens = tokenize(g, crossing);
      assert.ok(tokens.every((t) => typeof t === 'string' || t === STAR || t === DOUBLE_STAR));
      assert.equal(compileTokens(tokens)(s), naive(tokens, s), `${g} vs ${s}`);
    }),
    { numRuns: 5000 },
  );
});
