/**
 * Semantic Versioning 2.0.0: parsing, precedence, and a small range language.
 *
 * Versions: `MAJOR.MINOR.PATCH[-PRERELEASE][+BUILD]`, an optional leading `v` accepted (tags are often
 * written `v1.2.3`). Precedence is SemVer's: build metadata ignored, a pre-release sorts before its
 * release, pre-release identifiers compared numerically or in ASCII order.
 *
 * Ranges: comparators separated by spaces must all hold; alternatives separated by `||`, any one.
 * A comparator is `>=`, `>`, `<=`, `<`, `=` or `==` (or none, meaning `=`) followed by a version
 * that may leave out MINOR and PATCH (`<2` is `<2.0.0`). No `^`, `~`, `x` wildcards or hyphen
 * ranges: they mean different things in different ecosystems. Unlike npm, a pre-release is not
 * excluded from a range it falls in by precedence.
 */
export interface SemVer {
  readonly major: bigint;
  readonly minor: bigint;
  readonly patch: bigint;
  readonly prerelease: readonly (string | bigint)[];
}

export class SemVerError extends Error {
  readonly code = 'SEMVER_INVALID';
  constructor(message: string) {
    super(message);
    this.name = 'SemVerError';
  }
}

const MAX_LENGTH = 256;
const NUM = '0|[1-9][0-9]*';
const IDENT = '[0-9A-Za-z-]+';
const VERSION = new RegExp(
  `^v?(${NUM})\\.(${NUM})\\.(${NUM})(?:-(${IDENT}(?:\\.${IDENT})*))?(?:\\+(${IDENT}(?:\\.${IDENT})*))?$`,
);
const PARTIAL = new RegExp(`^v?(${NUM})(?:\\.(${NUM})(?:\\.(${NUM})(?:-(${IDENT}(?:\\.${IDENT})*))?)?)?$`);
const COMPARATOR = /^(>=|<=|==|=|>|<)?(.*)$/;

function describe(text: string): string {
  return JSON.stringify(text.length > 64 ? `${text.slice(0, 64)}...` : text);
}

function prereleaseIdentifiers(text: string | undefined, whole: string): (string | bigint)[] {
  if (text === undefined) return [];
  return text.split('.').map((id) => {
    if (/^[0-9]+$/.test(id)) {
      if (id.length > 1 && id.startsWith('0')) {
        throw new SemVerError(
          `${describe(whole)} is not a semantic version: numeric pre-release ${id} has a leading zero`,
        );
      }
      return BigInt(id);
    }
    return id;
  });
}

export function parseSemVer(text: string): SemVer {
  if (text.length > MAX_LENGTH) throw new SemVerError(`version of ${text.length} characters is too long`);
  const m = VERSION.exec(text);
  if (m === null) throw new SemVerError(`${describe(text)} is not a semantic version (MAJOR.MINOR.PATCH)`);
  return {
    major: BigInt(m[1]!),
    minor: BigInt(m[2]!),
    patch: BigInt(m[3]!),
    prerelease: prereleaseIdentifiers(m[4], text),
  };
}

export function isSemVer(text: string): boolean {
  try {
    parseSemVer(text);
    return true;
  } catch {
    return false;
  }
}

function sign(a: bigint, b: bigint): -1 | 0 | 1 {
  return a < b ? -1 : a > b ? 1 : 0;
}

export function compareSemVer(a: SemVer, b: SemVer): -1 | 0 | 1 {
  const core = sign(a.major, b.major) || sign(a.minor, b.minor) || sign(a.patch, b.patch);
  if (core !== 0) return core;
  if (a.prerelease.length === 0 || b.prerelease.length === 0) {
    return a.prerelease.length === b.prerelease.length ? 0 : a.prerelease.length === 0 ? 1 : -1;
  }
  for (let i = 0; i < Math.min(a.prerelease.length, b.prerelease.length); i++) {
    const x = a.prerelease[i]!;
    const y = b.prerelease[i]!;
    if (typeof x === 'bigint' && typeof y === 'bigint') {
      const s = sign(x, y);
      if (s !== 0) return s;
    } else if (typeof x === 'bigint') {
      return -1; // numeric identifiers have lower precedence than alphanumeric ones
    } else if (typeof y === 'bigint') {
      return 1;
    } else if (x !== y) {
      return x < y ? -1 : 1;
    }
  }
  return sign(BigInt(a.prerelease.length), BigInt(b.prerelease.length));
}

export function compareSemVerStrings(a: string, b: string): -1 | 0 | 1 {
  return compareSemVer(parseSemVer(a), parseSemVer(b));
}

type Operator = '>=' | '<=' | '=' | '>' | '<';
interface Comparator {
  readonly op: Operator;
  readonly version: SemVer;
}

function parseComparator(text: string, range: string): Comparator {
  const m = COMPARATOR.exec(text)!;
  const op = (m[1] === '==' || m[1] === undefined ? '=' : m[1]) as Operator;
  const v = PARTIAL.exec(m[2]!);
  if (v === null || m[2] === '') {
    throw new SemVerError(`range ${describe(range)}: ${describe(text)} is not a comparator like >=1.2.0`);
  }
  if (op === '=' && (v[2] === undefined || v[3] === undefined)) {
    throw new SemVerError(
      `range ${describe(range)}: ${describe(text)} needs a full MAJOR.MINOR.PATCH version`,
    );
  }
  return {
    op,
    version: {
      major: BigInt(v[1]!),
      minor: BigInt(v[2] ?? 0),
      patch: BigInt(v[3] ?? 0),
      prerelease: prereleaseIdentifiers(v[4], text),
    },
  };
}

/** Parses a range into alternatives of comparators; throws SemVerError naming the bad part. */
export function parseSemVerRange(range: string): Comparator[][] {
  if (range.length > MAX_LENGTH) throw new SemVerError(`range of ${range.length} characters is too long`);
  return range.split('||').map((alternative) => {
    // `>= 1.2.0` is written with a space often enough to accept it.
    const parts = alternative
      .trim()
      .replace(/(>=|<=|==|=|>|<)\s+/g, '$1')
      .split(/\s+/);
    if (parts.length === 1 && parts[0] === '') {
      throw new SemVerError(`range ${describe(range)} has an empty alternative`);
    }
    return parts.map((part) => parseComparator(part, range));
  });
}

function holds(version: SemVer, { op, version: bound }: Comparator): boolean {
  const c = compareSemVer(version, bound);
  switch (op) {
    case '>=':
      return c >= 0;
    case '>':
      return c > 0;
    case '<=':
      return c <= 0;
    case '<':
      return c < 0;
    case '=':
      return c === 0;
  }
}

export function satisfiesSemVer(version: string, range: string): boolean {
  const v = parseSemVer(version);
  return parseSemVerRange(range).some((alternative) =>
    alternative.every((comparator) => holds(v, comparator)),
  );
}
