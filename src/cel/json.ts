/**
 * JSON (as JSON.parse returns it) to CEL values, bounded.
 *
 * Objects become Maps, never plain objects: @bufbuild/cel treats a plain object carrying a `$typeName`
 * key as a protobuf message, and an attacker writes the keys of a predicate.
 *
 * Numbers: an integral number within ±(2^53 - 1) becomes a CEL `int`, any other number a `double`.
 * So `predicate.count == 3`, `size(x) > manifest.layers.size()` and `config.size + 1` work on what
 * JSON writers mean by integers, and a number JSON.parse already rounded is not passed off as exact.
 */
import type { CelInput } from '@bufbuild/cel';
import { JSON_INPUT_LIMITS, type JsonInputLimits } from './limits.ts';

export class CelInputError extends Error {
  readonly code: 'CEL_INPUT_INVALID' | 'CEL_INPUT_TOO_LARGE';
  /** Where in the input, e.g. `predicate.scanner.result.vulnerabilities[3].id`. */
  readonly path: string;
  constructor(code: CelInputError['code'], path: string, message: string) {
    super(`${path}: ${message}`);
    this.name = 'CelInputError';
    this.code = code;
    this.path = path;
  }
}

const IDENTIFIER = /^[A-Za-z_][A-Za-z0-9_]*$/;

function childPath(path: string, key: string): string {
  return IDENTIFIER.test(key) ? `${path}.${key}` : `${path}[${JSON.stringify(key.slice(0, 64))}]`;
}

/**
 * Converts one JSON value; `name` names it in errors (usually the CEL variable it is bound to).
 * Throws CelInputError for a value JSON cannot hold (undefined, functions, Dates, NaN, cycles...) or one
 * beyond the limits.
 */
export function jsonToCel(
  value: unknown,
  name: string,
  limits: JsonInputLimits = JSON_INPUT_LIMITS,
): CelInput {
  let count = 0;
  const convert = (v: unknown, path: string, depth: number): CelInput => {
    if (++count > limits.maxTotalValues) {
      throw new CelInputError('CEL_INPUT_TOO_LARGE', name, `more than ${limits.maxTotalValues} values`);
    }
    if (depth > limits.maxDepth) {
      throw new CelInputError('CEL_INPUT_TOO_LARGE', path, `nested deeper than ${limits.maxDepth} levels`);
    }
    if (v === null || typeof v === 'boolean') return v;
    if (typeof v === 'string') {
      if (v.length > limits.maxStringLength) {
        throw new CelInputError(
          'CEL_INPUT_TOO_LARGE',
          path,
          `string of ${v.length} characters; the limit is ${limits.maxStringLength}`,
        );
      }
      return v;
    }
    if (typeof v === 'number') {
      if (!Number.isFinite(v))
        throw new CelInputError('CEL_INPUT_INVALID', path, `${v} is not a JSON number`);
      return Number.isSafeInteger(v) ? BigInt(v) : v;
    }
    if (Array.isArray(v)) {
      if (v.length > limits.maxArrayLength) {
        throw new CelInputError(
          'CEL_INPUT_TOO_LARGE',
          path,
          `array of ${v.length} elements; the limit is ${limits.maxArrayLength}`,
        );
      }
      return v.map((element, i) => convert(element, `${path}[${i}]`, depth + 1));
    }
    if (typeof v === 'object' && isPlainObject(v)) {
      const keys = Object.keys(v);
      if (keys.length > limits.maxObjectKeys) {
        throw new CelInputError(
          'CEL_INPUT_TOO_LARGE',
          path,
          `object with ${keys.length} keys; the limit is ${limits.maxObjectKeys}`,
        );
      }
      const map = new Map<string, CelInput>();
      for (const key of keys) {
        const element = (v as Record<string, unknown>)[key];
        // JSON.stringify drops undefined members; so do we, rather than inventing a value.
        if (element === undefined) continue;
        if (key.length > limits.maxStringLength) {
          throw new CelInputError('CEL_INPUT_TOO_LARGE', path, `key of ${key.length} characters`);
        }
        map.set(key, convert(element, childPath(path, key), depth + 1));
      }
      return map;
    }
    const kind =
      v === undefined ? 'undefined' : typeof v === 'object' ? (v.constructor?.name ?? 'object') : typeof v;
    throw new CelInputError('CEL_INPUT_INVALID', path, `${kind} is not a JSON value`);
  };
  return convert(value, name, 0);
}

function isPlainObject(v: object): boolean {
  const proto = Object.getPrototypeOf(v) as unknown;
  return proto === Object.prototype || proto === null;
}
