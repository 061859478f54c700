/**
 * Helper functions for what plain CEL makes clumsy: "within the last 7 days", version ranges,
 * adding up sizes.
 * Each is documented, with examples, in docs/cel.md; keep the two in step.
 */
import {
  CelScalar,
  celEnv,
  celFunc,
  celType,
  isCelError,
  isCelUint,
  listType,
  objectType,
  type CelFunc,
  type CelList,
  type CelValue,
} from '@bufbuild/cel';
import { compareSemVerStrings, isSemVer, satisfiesSemVer } from './semver.ts';
import { currentEvaluation } from './meter.ts';

const { STRING, BOOL, INT, DYN } = CelScalar;
const TIMESTAMP = objectType('google.protobuf.Timestamp');
const DURATION = objectType('google.protobuf.Duration');

// The standard timestamp() and duration() conversions, so helpers accept exactly what CEL accepts.
const std = celEnv().funcs;

interface SecondsNanos {
  readonly seconds: bigint;
  readonly nanos: number;
}

function convert(fn: 'timestamp' | 'duration', text: string): SecondsNanos {
  const result = std.find(fn)?.call(0, undefined, [text]);
  if (result === undefined || isCelError(result)) {
    const what = fn === 'timestamp' ? 'an RFC 3339 timestamp' : 'a duration like "168h" or "30m"';
    throw new Error(`${JSON.stringify(text.slice(0, 64))} is not ${what}`);
  }
  return messageOf(result);
}

function messageOf(value: CelValue): SecondsNanos {
  return (value as unknown as { message: SecondsNanos }).message;
}

const toNanos = ({ seconds, nanos }: SecondsNanos): bigint => seconds * 1_000_000_000n + BigInt(nanos);

/** True when `at` lies in [now - window, now]: a time in the future is not "within the last" window. */
function isWithin(at: SecondsNanos, window: SecondsNanos): boolean {
  const w = toNanos(window);
  if (w < 0n) throw new Error('isWithin: the duration must not be negative');
  const now = BigInt(currentEvaluation().nowMs) * 1_000_000n;
  const t = toNanos(at);
  return t <= now && now - t <= w;
}

const INT64_MIN = -(2n ** 63n);
const INT64_MAX = 2n ** 63n - 1n;

/** Sum of a list of numbers: int when every element is an int, double as soon as one is a double. */
function sum(list: CelList): bigint | number {
  let ints = 0n;
  let doubles = 0;
  let anyDouble = false;
  let i = 0;
  for (const v of list) {
    if (typeof v === 'bigint') ints += v;
    else if (typeof v === 'number') {
      doubles += v;
      anyDouble = true;
    } else if (isCelUint(v)) ints += v.value;
    else throw new Error(`sum() takes a list of numbers; element ${i} is a ${celType(v).name}`);
    i++;
  }
  if (anyDouble) return Number(ints) + doubles;
  if (ints < INT64_MIN || ints > INT64_MAX) throw new Error('int overflow in sum()');
  return ints;
}

export const helperFunctions: readonly CelFunc[] = [
  celFunc('isWithin', [STRING, STRING], BOOL, (t, d) =>
    isWithin(convert('timestamp', t), convert('duration', d)),
  ),
  celFunc('isWithin', [STRING, DURATION], BOOL, (t, d) => isWithin(convert('timestamp', t), messageOf(d))),
  celFunc('isWithin', [TIMESTAMP, STRING], BOOL, (t, d) => isWithin(messageOf(t), convert('duration', d))),
  celFunc('isWithin', [TIMESTAMP, DURATION], BOOL, (t, d) => isWithin(messageOf(t), messageOf(d))),
  celFunc('sum', [listType(DYN)], DYN, sum),
  celFunc('semver.isValid', [STRING], BOOL, (v) => isSemVer(v)),
  celFunc('semver.compare', [STRING, STRING], INT, (a, b) => BigInt(compareSemVerStrings(a, b))),
  celFunc('semver.satisfies', [STRING, STRING], BOOL, (v, range) => satisfiesSemVer(v, range)),
];

/** Names of the helpers, for the linter and the docs. */
export const HELPER_NAMES: readonly string[] = [...new Set(helperFunctions.map((f) => f.name))];
