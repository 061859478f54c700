/**
 * Checks objects against the Kubernetes API models generated from the API server's OpenAPI document
 * (@kubernetes/client-node, release-1.36): every field must be known and of the right type. This is the
 * check `kubectl --validate=strict` makes, done offline, since no API server can run here; it does not
 * know required fields or enum values.
 */
import * as k8s from '@kubernetes/client-node';

interface Attribute {
  readonly baseName: string;
  readonly type: string;
}
type Model = { getAttributeTypeMap(): Attribute[] };

const models = k8s as unknown as Record<string, Model | undefined>;

/** Model names for built-in kinds, by apiVersion and kind. */
export function modelFor(apiVersion: string, kind: string): string {
  const version = apiVersion.includes('/') ? apiVersion.split('/')[1] : apiVersion;
  const name = `${(version as string).charAt(0).toUpperCase()}${(version as string).slice(1)}${kind}`;
  if (!models[name]) throw new Error(`no model ${name} for ${apiVersion} ${kind}`);
  return name;
}

export function modelProblems(value: unknown, type: string, path = ''): string[] {
  const problems: string[] = [];
  const check = (v: unknown, t: string, p: string): void => {
    const array = /^Array<(.+)>$/.exec(t);
    const map = /^\{ \[key: string\]: (.+); \}$/.exec(t);
    if (t === 'any' || t === 'object') return;
    if (array) {
      if (!Array.isArray(v)) return void problems.push(`${p}: expected a list, got ${JSON.stringify(v)}`);
      v.forEach((item, i) => check(item, array[1] as string, `${p}[${i}]`));
    } else if (map) {
      if (typeof v !== 'object' || v === null || Array.isArray(v))
        return void problems.push(`${p}: expected a map, got ${JSON.stringify(v)}`);
      for (const [k, item] of Object.entries(v)) check(item, map[1] as string, `${p}.${k}`);
    } else if (t === 'string' || t === 'Date') {
      if (typeof v !== 'string') problems.push(`${p}: expected a string, got ${JSON.stringify(v)}`);
    } else if (t === 'number') {
      if (typeof v !== 'number') problems.push(`${p}: expected a number, got ${JSON.stringify(v)}`);
    } else if (t === 'boolean') {
      if (typeof v !== 'boolean') problems.push(`${p}: expected a boolean, got ${JSON.stringify(v)}`);
    } else if (t === 'IntOrString') {
      if (typeof v !== 'string' && !Number.isInteger(v)) problems.push(`${p}: expected int or string`);
    } else {
      const model = models[t];
      if (!model) return void problems.push(`${p}: unknown model ${t}`);
      if (typeof v !== 'object' || v === null || Array.isArray(v))
        return void problems.push(`${p}: expected an object (${t}), got ${JSON.stringify(v)}`);
      const attributes = new Map(model.getAttributeTypeMap().map((a) => [a.baseName, a.type]));
      for (const [k, item] of Object.entries(v)) {
        const at = attributes.get(k);
        if (at === undefined) problems.push(`${p}.${k}: unknown field of ${t}`);
        else check(item, at, `${p}.${k}`);
      }
    }
  };
  check(value, type, path);
  return problems;
}
