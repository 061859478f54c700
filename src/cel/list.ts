/**
 * List concatenation for the comprehension macros.
 *
 * `map` and `filter` build their result as `accumulator + [element]` once per element. The library's
 * concatenation is a lazy view of its two operands, so a result of n elements is n views deep: reading
 * it recurses n levels and overflows the stack at a few thousand elements (a real vulnerability report
 * has that many). Here a concatenation appends to a shared backing array when its left operand is the
 * newest view of that array (Go's `append` trick), and copies otherwise. A view's length is fixed and
 * its prefix of the array is never written again, so every list stays immutable.
 */
import { CelScalar, celFunc, listType, type CelFunc, type CelList, type CelValue } from '@bufbuild/cel';

// The library recognises lists by this registered symbol (its private brand, shared across copies).
const LIST_BRAND = Symbol.for('@bufbuild/cel/list');

class AppendableList {
  readonly [LIST_BRAND] = {};
  readonly backing: CelValue[];
  readonly size: number;

  constructor(backing: CelValue[], size: number) {
    this.backing = backing;
    this.size = size;
  }

  get(index: number): CelValue | undefined {
    return index >= 0 && index < this.size ? this.backing[index] : undefined;
  }

  *values(): IterableIterator<CelValue> {
    for (let i = 0; i < this.size; i++) yield this.backing[i]!;
  }

  [Symbol.iterator](): IterableIterator<CelValue> {
    return this.values();
  }
}

export function concatLists(left: CelList, right: CelList): CelList {
  let backing: CelValue[];
  if (left instanceof AppendableList && left.size === left.backing.length) {
    backing = left.backing;
  } else {
    backing = [...left];
  }
  for (const v of right) backing.push(v);
  return new AppendableList(backing, backing.length) as unknown as CelList;
}

export const listConcat: CelFunc = celFunc(
  '_+_',
  [listType(CelScalar.DYN), listType(CelScalar.DYN)],
  listType(CelScalar.DYN),
  concatLists,
);

/** Cost units of `left + right`: what concatLists copies (1 per element). */
export function appendCost(left: CelList, right: CelList): number {
  const appends = left instanceof AppendableList && left.size === left.backing.length;
  return (appends ? 0 : left.size) + right.size;
}
