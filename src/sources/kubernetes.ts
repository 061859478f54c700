/**
 * Images in Kubernetes objects: every pod spec of the built-in workload kinds, inside `List`s too.
 *
 * Objects of other kinds are looked at only where a pod spec conventionally lives (Argo Rollouts,
 * Knative-like CRDs), because silently skipping a workload CRD would leave its images unchecked.
 */
import { isMap, isScalar, isSeq } from 'yaml';
import type { Document, LineCounter, Node, YAMLMap } from 'yaml';
import { describeNode, deref, getField, nodePosition, stringValue } from './yaml-documents.ts';
import type { Findings } from './findings.ts';
import { LIMITS } from './types.ts';
import { CONTAINER_FIELDS, POD_SPEC_PATHS as ADMITTED_POD_SPEC_PATHS } from '../kubernetes/pod-spec.ts';
import type { ImageSource, SourceProblemCode } from './types.ts';

export interface YamlDocumentContext {
  file: string;
  doc: Document.Parsed;
  lineCounter: LineCounter;
  documentIndex: number;
  findings: Findings;
}

/**
 * Where the pod spec is, per kind: admission's table (one list of the built-in workload kinds), plus
 * `PodTemplate`, which a manifest may carry but the webhook is not registered for.
 */
const POD_SPEC_PATHS: Readonly<Record<string, readonly string[]>> = {
  ...ADMITTED_POD_SPEC_PATHS,
  PodTemplate: ['template', 'spec'],
};

/** Where custom resources usually embed a pod spec, most specific first. */
const CONVENTIONAL_POD_SPEC_PATHS: readonly (readonly string[])[] = [
  ['spec', 'jobTemplate', 'spec', 'template', 'spec'],
  ['spec', 'template', 'spec'],
  ['template', 'spec'],
  ['spec'],
];

interface ObjectIdentity {
  kind: string;
  apiVersion?: string;
  namespace?: string;
  name?: string;
  labels?: Record<string, string>;
}

/** Returns false when the mapping is not a Kubernetes object (it has no `kind`). */
export function extractKubernetesObject(
  ctx: YamlDocumentContext,
  object: YAMLMap,
  prefix = '',
  nesting = 0,
): boolean {
  const kindNode = getField(ctx.doc, object, 'kind');
  if (kindNode === undefined) return false;
  const kind = stringValue(kindNode);
  if (kind === undefined) {
    problem(ctx, kindNode, `${prefix}kind must be a string, got ${describeNode(kindNode)}`, 'WRONG_TYPE');
    return true;
  }
  const metadata = getField(ctx.doc, object, 'metadata');
  const identity: ObjectIdentity = {
    kind,
    apiVersion: stringValue(getField(ctx.doc, object, 'apiVersion')),
    namespace: isMap(metadata) ? stringValue(getField(ctx.doc, metadata, 'namespace')) : undefined,
    name: isMap(metadata) ? stringValue(getField(ctx.doc, metadata, 'name')) : undefined,
  };
  const items = getField(ctx.doc, object, 'items');
  if (kind === 'List' || (kind.endsWith('List') && isSeq(items))) {
    extractListItems(ctx, identity, items, prefix, nesting);
    return true;
  }
  const known = POD_SPEC_PATHS[kind];
  // Labels are read only from objects that carry images: a Service's labels are none of our business.
  const withLabels = (): ObjectIdentity => {
    const labels = objectLabels(ctx, metadata);
    return labels === undefined ? identity : { ...identity, labels };
  };
  if (known !== undefined) {
    const podSpec = walkMaps(ctx, identity, object, known, prefix);
    if (podSpec !== undefined) extractPodSpec(ctx, withLabels(), podSpec, `${prefix}${known.join('.')}.`);
    return true;
  }
  for (const keys of CONVENTIONAL_POD_SPEC_PATHS) {
    const candidate = lookupMaps(ctx.doc, object, keys);
    if (
      candidate === undefined ||
      !CONTAINER_FIELDS.some((f) => getField(ctx.doc, candidate, f) !== undefined)
    ) {
      continue;
    }
    const note = `kind ${kind} is not a built-in workload kind; the pod spec at ${keys.join('.')} was checked`;
    extractPodSpec(ctx, withLabels(), candidate, `${prefix}${keys.join('.')}.`, note);
    break;
  }
  return true;
}

function extractListItems(
  ctx: YamlDocumentContext,
  list: ObjectIdentity,
  items: Node | undefined,
  prefix: string,
  nesting: number,
): void {
  if (items === undefined) return;
  const where = `${describe(list)}: ${prefix}items`;
  if (!isSeq(items)) {
    problem(ctx, items, `${where} must be a list, got ${describeNode(items)}`, 'WRONG_TYPE');
    return;
  }
  if (nesting >= LIMITS.maxListNesting) {
    problem(ctx, items, `${where}: Lists nested more than ${LIMITS.maxListNesting} deep`, 'LIMIT_EXCEEDED');
    return;
  }
  items.items.forEach((raw, index) => {
    const item = deref(ctx.doc, raw);
    const itemPrefix = `${prefix}items[${index}].`;
    if (!isMap(item)) {
      problem(
        ctx,
        item,
        `${where}[${index}] must be a mapping (an object), got ${describeNode(item)}`,
        'WRONG_TYPE',
      );
      return;
    }
    if (!extractKubernetesObject(ctx, item, itemPrefix, nesting + 1)) {
      problem(ctx, item, `${where}[${index}] has no kind`, 'WRONG_TYPE');
    }
  });
}

function extractPodSpec(
  ctx: YamlDocumentContext,
  identity: ObjectIdentity,
  podSpec: YAMLMap,
  prefix: string,
  note?: string,
): void {
  for (const field of CONTAINER_FIELDS) {
    const containers = getField(ctx.doc, podSpec, field);
    if (containers === undefined) continue;
    const listPath = `${prefix}${field}`;
    if (!isSeq(containers)) {
      const message = `${describe(identity)}: ${listPath} must be a list, got ${describeNode(containers)}`;
      problem(ctx, containers, message, 'WRONG_TYPE');
      continue;
    }
    containers.items.forEach((raw, index) => {
      const container = deref(ctx.doc, raw);
      const path = `${listPath}[${index}]`;
      if (!isMap(container)) {
        const message = `${describe(identity)}: ${path} must be a mapping (a container), got ${describeNode(container)}`;
        problem(ctx, container, message, 'WRONG_TYPE');
        return;
      }
      const name = stringValue(getField(ctx.doc, container, 'name'));
      const label = name === undefined ? path : `${path} (container "${name}")`;
      imageAt(ctx, identity, container, 'image', `${path}.image`, label, { container: name, note });
    });
  }
  const volumes = getField(ctx.doc, podSpec, 'volumes');
  if (volumes === undefined) return;
  if (!isSeq(volumes)) {
    const message = `${describe(identity)}: ${prefix}volumes must be a list, got ${describeNode(volumes)}`;
    problem(ctx, volumes, message, 'WRONG_TYPE');
    return;
  }
  volumes.items.forEach((raw, index) => {
    const volume = deref(ctx.doc, raw);
    if (!isMap(volume)) return; // volumes carry no image unless they are image volumes; the API server validates the rest
    const imageSource = getField(ctx.doc, volume, 'image');
    if (imageSource === undefined) return;
    const path = `${prefix}volumes[${index}].image`;
    const volumeName = stringValue(getField(ctx.doc, volume, 'name'));
    const label = volumeName === undefined ? path : `${path} (volume "${volumeName}")`;
    if (!isMap(imageSource)) {
      const message = `${describe(identity)}: ${label} must be a mapping, got ${describeNode(imageSource)}`;
      problem(ctx, imageSource, message, 'WRONG_TYPE');
      return;
    }
    const volumeNote = volumeName === undefined ? 'image volume' : `image volume "${volumeName}"`;
    imageAt(ctx, identity, imageSource, 'reference', `${path}.reference`, label, {
      note: note === undefined ? volumeNote : `${volumeNote}; ${note}`,
    });
  });
}

function imageAt(
  ctx: YamlDocumentContext,
  identity: ObjectIdentity,
  holder: YAMLMap,
  field: string,
  path: string,
  label: string,
  extra: { container?: string; note?: string },
): void {
  const node = getField(ctx.doc, holder, field);
  if (node === undefined) {
    problem(ctx, holder, `${describe(identity)}: ${label} has no ${field}`, 'MISSING_IMAGE');
    return;
  }
  const image = stringValue(node);
  if (image === undefined) {
    problem(
      ctx,
      node,
      `${describe(identity)}: ${path} must be a string, got ${describeNode(node)}`,
      'WRONG_TYPE',
    );
    return;
  }
  const source: ImageSource = {
    file: ctx.file,
    ...nodePosition(ctx.lineCounter, node),
    format: 'kubernetes',
    kind: identity.kind,
    ...(identity.apiVersion === undefined ? {} : { apiVersion: identity.apiVersion }),
    ...(identity.namespace === undefined ? {} : { namespace: identity.namespace }),
    ...(identity.name === undefined ? {} : { name: identity.name }),
    ...(identity.labels === undefined ? {} : { labels: identity.labels }),
    documentIndex: ctx.documentIndex,
    path,
  };
  if (extra.container !== undefined) source.container = extra.container;
  const notes = [
    extra.note,
    image.includes('{{') ? 'looks like an unrendered template placeholder' : undefined,
  ];
  const note = notes.filter((n) => n !== undefined).join('; ');
  ctx.findings.image(note === '' ? { image, source } : { image, source, note });
}

/** Follows `keys` through nested mappings, reporting a non-mapping on the way; absent means no pod spec. */
function walkMaps(
  ctx: YamlDocumentContext,
  identity: ObjectIdentity,
  start: YAMLMap,
  keys: readonly string[],
  prefix: string,
): YAMLMap | undefined {
  let current = start;
  let path = prefix.replace(/\.$/, '');
  for (const key of keys) {
    const next = getField(ctx.doc, current, key);
    path = path === '' ? key : `${path}.${key}`;
    if (next === undefined) return undefined;
    if (!isMap(next)) {
      problem(
        ctx,
        next,
        `${describe(identity)}: ${path} must be a mapping, got ${describeNode(next)}`,
        'WRONG_TYPE',
      );
      return undefined;
    }
    current = next;
  }
  return current;
}

/**
 * `metadata.labels` (for `spec.match` objectSelector): undefined when none are written. Labels that are
 * not a mapping of strings to strings are a problem (the API server would refuse them), so an object
 * whose labels cannot be read is never judged as if it had none.
 */
function objectLabels(
  ctx: YamlDocumentContext,
  metadata: Node | undefined,
): Record<string, string> | undefined {
  if (!isMap(metadata)) return undefined;
  const labels = getField(ctx.doc, metadata, 'labels');
  if (labels === undefined || (isScalar(labels) && labels.value === null)) return undefined;
  if (!isMap(labels)) {
    problem(ctx, labels, `metadata.labels must be a mapping, got ${describeNode(labels)}`, 'WRONG_TYPE');
    return undefined;
  }
  const entries: [string, string][] = [];
  for (const pair of labels.items) {
    const key = stringValue(deref(ctx.doc, pair.key));
    const value = deref(ctx.doc, pair.value);
    const text = isScalar(value) && value.value === null ? '' : stringValue(value);
    if (key === undefined || key === '<<' || text === undefined) {
      const at = isScalar(value) || isMap(value) || isSeq(value) ? value : labels;
      const what =
        key === undefined || key === '<<' ? 'a key that is not a string' : `label ${JSON.stringify(key)}`;
      problem(
        ctx,
        at,
        `metadata.labels: ${what} must map to a string (quote numbers and booleans), got ${describeNode(value)}`,
        'WRONG_TYPE',
      );
      return undefined;
    }
    entries.push([key, text]);
  }
  if (entries.length === 0) return undefined;
  // fromEntries defines own properties, so a `__proto__` label is a label, not a prototype.
  return Object.fromEntries(entries);
}

function lookupMaps(doc: Document.Parsed, start: YAMLMap, keys: readonly string[]): YAMLMap | undefined {
  let current = start;
  for (const key of keys) {
    const next = getField(doc, current, key);
    if (!isMap(next)) return undefined;
    current = next;
  }
  return current;
}

function describe(identity: ObjectIdentity): string {
  return identity.name === undefined ? identity.kind : `${identity.kind} "${identity.name}"`;
}

function problem(ctx: YamlDocumentContext, node: unknown, message: string, code: SourceProblemCode): void {
  const at =
    node !== null && typeof node === 'object' && 'range' in node
      ? nodePosition(ctx.lineCounter, node as Node)
      : {};
  ctx.findings.problem({ file: ctx.file, ...at, message, code });
}
