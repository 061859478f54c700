/**
 * The workload inventory `portcullis audit` (and the controller) judges: every object that runs
 * containers, with its Kubernetes context (kind, namespace, labels), who owns it, and each image with the
 * field path it was read from.
 *
 * Objects come from `kubectl get ... -A -o json` dumps (a List, or several JSON/YAML documents), from
 * manifest directories, or from the API server. A Pod or ReplicaSet whose controlling owner is also in the
 * inventory and runs the same images as the owner's template is folded into the owner (the owner is what
 * people name); one that runs something else is kept, with its owner chain, because that is drift.
 *
 * Namespace labels (for `spec.match.namespaceSelector`) come from the `Namespace` objects of the dumps, or
 * from the API server when asked; a namespace whose labels are not known leaves them unknown, and then every
 * namespaceSelector counts as selecting its workloads (fail closed), with a note saying so.
 *
 * Bounded: workloads, images per workload (POD_SPEC_LIMITS), file sizes and counts. Anything that cannot
 * be read is a problem, never a silent skip.
 */
import { readFile, readdir, stat } from 'node:fs/promises';
import { join, relative } from 'node:path';
import { parseAllDocuments } from 'yaml';
import { WORKLOAD_RESOURCES, type KubernetesApi, type WorkloadResource } from '../kubernetes/api.ts';
import { isJsonObject, podImages, POD_SPEC_PATHS, type PodImage } from '../kubernetes/pod-spec.ts';
import { mapLimit } from '../util/map-limit.ts';

export const INVENTORY_LIMITS = {
  /** Workloads in one inventory; more is a problem (the audit is refused rather than partial). */
  maxWorkloads: 50_000,
  /** One dump or manifest file. */
  maxFileBytes: 64 * 1024 * 1024,
  /** Files read from directories. */
  maxFiles: 10_000,
  /** Objects (list items or documents) in one file. */
  maxObjectsPerFile: 100_000,
  /** Owner references followed from one object. */
  maxOwnerDepth: 8,
} as const;

export interface OwnerRef {
  readonly kind: string;
  readonly name: string;
}

export interface Workload {
  readonly kind: string;
  readonly apiVersion?: string;
  /** Absent for objects that name none (manifests applied with `-n`). */
  readonly namespace?: string;
  readonly name: string;
  readonly uid?: string;
  readonly labels: Readonly<Record<string, string>>;
  /** Its namespace's labels, when known (a Namespace object in the dumps, or read from the cluster). */
  readonly namespaceLabels?: Readonly<Record<string, string>>;
  /** Controlling owners, nearest first: a Pod's ReplicaSet, then its Deployment. */
  readonly owners: readonly OwnerRef[];
  /**
   * The objects folded into this one (its ReplicaSets and Pods running what it says), as admission saw
   * them: each was admitted in its own kind and labels, so a policy selecting on those judges this
   * workload too. Distinct (kind, labels) only.
   */
  readonly admittedAs?: readonly AdmittedAs[];
  readonly images: readonly PodImage[];
  /** Why part of this object could not be read; any problem makes the workload fail the audit. */
  readonly problems: readonly string[];
  /** The file it came from (dumps and manifests), for SARIF locations. */
  readonly file?: string;
}

export interface AdmittedAs {
  readonly kind: string;
  readonly labels: Readonly<Record<string, string>>;
}

export interface Inventory {
  readonly workloads: readonly Workload[];
  /** Inputs that could not be read at all (file errors, bad JSON/YAML, bounds). */
  readonly problems: readonly string[];
  /** What could not be found out but fails closed on its own (unreadable namespace labels): for stderr. */
  readonly notes?: readonly string[];
}

/** `Deployment ns/name`, `Pod name` (no namespace): how workloads are named in reports. */
export function workloadName(w: Pick<Workload, 'kind' | 'namespace' | 'name'>): string {
  return `${w.kind} ${w.namespace !== undefined ? `${w.namespace}/` : ''}${w.name}`;
}

interface Found {
  readonly object: Record<string, unknown>;
  readonly file?: string;
}

type Json = Record<string, unknown>;

const str = (v: unknown): string | undefined => (typeof v === 'string' && v !== '' ? v : undefined);

function stringMap(v: unknown): Record<string, string> {
  const out: Record<string, string> = {};
  if (!isJsonObject(v)) return out;
  for (const [k, val] of Object.entries(v)) if (typeof val === 'string') out[k] = val;
  return out;
}

function controller(object: Json): { kind: string; name: string; uid?: string } | undefined {
  const meta = isJsonObject(object.metadata) ? object.metadata : {};
  const refs = Array.isArray(meta.ownerReferences) ? meta.ownerReferences : [];
  const ref = refs.find((r) => isJsonObject(r) && r.controller === true) ?? refs[0];
  if (!isJsonObject(ref)) return undefined;
  const kind = str(ref.kind);
  const name = str(ref.name);
  if (!kind || !name) return undefined;
  const uid = str(ref.uid);
  return { kind, name, ...(uid ? { uid } : {}) };
}

/** Flattens Lists (`kind: List`, `*List`) into their items, bounded. */
function flatten(value: unknown, file: string | undefined, out: Found[], problems: string[]): void {
  const where = file ?? 'input';
  if (!isJsonObject(value)) {
    if (value !== null && value !== undefined) problems.push(`${where}: a document is not an object`);
    return;
  }
  if (Array.isArray(value.items) && (value.kind === 'List' || String(value.kind ?? '').endsWith('List'))) {
    for (const item of value.items) flatten(item, file, out, problems);
    return;
  }
  if (out.length >= INVENTORY_LIMITS.maxWorkloads * 4) {
    problems.push(`${where}: more objects than the inventory accepts; the rest is not read`);
    return;
  }
  out.push({ object: value, ...(file !== undefined ? { file } : {}) });
}

/**
 * Builds the inventory from parsed objects (a List, items, anything `kubectl get -o json` prints).
 * Objects of kinds without a pod spec (Services, ConfigMaps) are ignored: they run nothing.
 */
export function inventoryFromObjects(
  objects: readonly unknown[],
  options: { readonly file?: string } = {},
): Inventory {
  const found: Found[] = [];
  const problems: string[] = [];
  for (const o of objects) flatten(o, options.file, found, problems);
  return buildInventory(found, problems);
}

/** `Namespace` objects present in the input (`kubectl get ns -o json`): name to labels. */
function namespacesIn(found: readonly Found[]): Map<string, Record<string, string>> {
  const out = new Map<string, Record<string, string>>();
  for (const { object } of found) {
    if (object.kind !== 'Namespace') continue;
    const meta = isJsonObject(object.metadata) ? object.metadata : {};
    const name = str(meta.name);
    if (name) out.set(name, stringMap(meta.labels));
  }
  return out;
}

function buildInventory(found: readonly Found[], problems: string[]): Inventory {
  const namespaces = namespacesIn(found);
  const runs = found.filter(
    (f) => typeof f.object.kind === 'string' && Object.hasOwn(POD_SPEC_PATHS, f.object.kind),
  );
  const key = (kind: string, ns: string | undefined, name: string) => `${kind}\u0000${ns ?? ''}\u0000${name}`;
  const byKey = new Map<string, Found>();
  for (const f of runs) {
    const meta = isJsonObject(f.object.metadata) ? f.object.metadata : {};
    const name = str(meta.name);
    if (name) byKey.set(key(String(f.object.kind), str(meta.namespace), name), f);
  }
  const workloads: Workload[] = [];
  /** Each folded object, and the owner it was folded into (which may itself be folded further). */
  const foldedInto = new Map<Found, Found>();
  const workloadOf = new Map<Found, number>();
  for (const f of runs) {
    const object = f.object;
    const kind = String(object.kind);
    const meta = isJsonObject(object.metadata) ? object.metadata : {};
    const namespace = str(meta.namespace);
    const name = str(meta.name) ?? str(meta.generateName) ?? '(unnamed)';
    const { images, problems: imageProblems } = podImages(object);
    // The controlling owner chain, as far as the inventory (or the references themselves) tell.
    const owners: OwnerRef[] = [];
    let current: Json | undefined = object;
    let foldInto: Found | undefined;
    for (let depth = 0; current && depth < INVENTORY_LIMITS.maxOwnerDepth; depth++) {
      const owner = controller(current);
      if (!owner) break;
      owners.push({ kind: owner.kind, name: owner.name });
      const ownerFound = byKey.get(key(owner.kind, namespace, owner.name));
      if (depth === 0 && ownerFound) foldInto = ownerFound;
      current = ownerFound?.object;
    }
    if (foldInto && imageProblems.length === 0 && sameImages(images, podImages(foldInto.object).images)) {
      foldedInto.set(f, foldInto);
      continue;
    }
    const uid = str(meta.uid);
    const apiVersion = str(object.apiVersion);
    const namespaceLabels = namespace ? namespaces.get(namespace) : undefined;
    workloadOf.set(f, workloads.length);
    workloads.push({
      kind,
      ...(apiVersion ? { apiVersion } : {}),
      ...(namespace ? { namespace } : {}),
      name,
      ...(uid ? { uid } : {}),
      labels: stringMap(meta.labels),
      ...(namespaceLabels ? { namespaceLabels } : {}),
      owners,
      images,
      problems: imageProblems,
      ...(f.file !== undefined ? { file: f.file } : {}),
    });
    if (workloads.length > INVENTORY_LIMITS.maxWorkloads) {
      problems.push(`more than ${INVENTORY_LIMITS.maxWorkloads} workloads; refusing a partial audit`);
      workloads.length = INVENTORY_LIMITS.maxWorkloads;
      break;
    }
  }
  addAdmittedAs(workloads, foldedInto, workloadOf);
  return { workloads, problems };
}

/** Hands each folded object's kind and labels to the workload it ended up in (a Pod to its Deployment). */
function addAdmittedAs(
  workloads: Workload[],
  foldedInto: ReadonlyMap<Found, Found>,
  workloadOf: ReadonlyMap<Found, number>,
): void {
  const added = new Map<number, Map<string, AdmittedAs>>();
  for (const [folded, owner] of foldedInto) {
    let top = owner;
    for (let depth = 0; foldedInto.has(top) && depth < INVENTORY_LIMITS.maxOwnerDepth; depth++)
      top = foldedInto.get(top)!;
    const index = workloadOf.get(top);
    // The owner is past the workload bound (the audit is refused then) or folded deeper than followed.
    if (index === undefined) continue;
    const meta = isJsonObject(folded.object.metadata) ? folded.object.metadata : {};
    const as = { kind: String(folded.object.kind), labels: stringMap(meta.labels) };
    const key = JSON.stringify([as.kind, Object.entries(as.labels).sort()]);
    const seen = added.get(index) ?? new Map<string, AdmittedAs>();
    seen.set(key, as);
    added.set(index, seen);
  }
  for (const [index, seen] of added)
    workloads[index] = { ...workloads[index]!, admittedAs: [...seen.values()] };
}

/** Same image strings in the same kinds of container, ignoring order (names may differ: kubectl names them). */
function sameImages(a: readonly PodImage[], b: readonly PodImage[]): boolean {
  const sig = (list: readonly PodImage[]) =>
    list
      .map((i) => `${i.field}\u0000${i.image}`)
      .sort()
      .join('\n');
  return sig(a) === sig(b);
}

/** Parses one file's text: JSON (a List or an object) or YAML documents. */
export function parseObjects(text: string, file: string): { objects: unknown[]; problems: string[] } {
  const trimmed = text.trimStart();
  if (trimmed.startsWith('{') || trimmed.startsWith('[')) {
    try {
      const parsed: unknown = JSON.parse(text);
      return { objects: Array.isArray(parsed) ? parsed : [parsed], problems: [] };
    } catch {
      // kubectl prints one JSON object per resource type with `-o json` on some versions, or a
      // concatenation: YAML 1.2 reads JSON documents separated by `---`, else fall through to the error.
    }
  }
  const problems: string[] = [];
  const objects: unknown[] = [];
  const docs = parseAllDocuments(text);
  const list = Array.isArray(docs) ? docs : [docs];
  for (const doc of list) {
    if (doc.errors.length > 0) {
      problems.push(`${file}: not valid JSON or YAML: ${doc.errors[0]!.message.split('\n')[0]}`);
      continue;
    }
    if (objects.length >= INVENTORY_LIMITS.maxObjectsPerFile) {
      problems.push(
        `${file}: more than ${INVENTORY_LIMITS.maxObjectsPerFile} documents; the rest is not read`,
      );
      break;
    }
    objects.push(doc.toJS({ maxAliasCount: 100 }));
  }
  return { objects, problems };
}

/** Reads dumps and manifest directories (`.json`, `.yaml`, `.yml`, recursively). `-` is not accepted. */
export async function inventoryFromPaths(paths: readonly string[]): Promise<Inventory> {
  const files: string[] = [];
  const problems: string[] = [];
  const walk = async (path: string): Promise<void> => {
    let info;
    try {
      info = await stat(path);
    } catch (error) {
      problems.push(
        `${path}: cannot read: ${(error as NodeJS.ErrnoException).code ?? (error as Error).message}`,
      );
      return;
    }
    if (info.isDirectory()) {
      let entries;
      try {
        entries = (await readdir(path, { withFileTypes: true })).sort((a, b) => a.name.localeCompare(b.name));
      } catch (error) {
        problems.push(
          `${path}: cannot read: ${(error as NodeJS.ErrnoException).code ?? (error as Error).message}`,
        );
        return;
      }
      for (const e of entries) {
        if (e.name.startsWith('.')) continue;
        const child = join(path, e.name);
        if (e.isDirectory()) await walk(child);
        else if (e.isFile() && /\.(json|ya?ml)$/i.test(e.name)) await walk(child);
      }
      return;
    }
    // A device or a pipe has no size to bound: /dev/zero would be read until memory runs out.
    if (!info.isFile()) {
      problems.push(`${path}: not a regular file or a directory`);
      return;
    }
    if (files.length >= INVENTORY_LIMITS.maxFiles) {
      if (files.length === INVENTORY_LIMITS.maxFiles)
        problems.push(`more than ${INVENTORY_LIMITS.maxFiles} files`);
      return;
    }
    if (info.size > INVENTORY_LIMITS.maxFileBytes) {
      problems.push(`${path}: ${info.size} bytes, over the ${INVENTORY_LIMITS.maxFileBytes} accepted`);
      return;
    }
    files.push(path);
  };
  for (const p of paths) await walk(p);
  const found: Found[] = [];
  for (const file of files) {
    const shown = relative(process.cwd(), file) || file;
    let text: string;
    try {
      text = await readFile(file, 'utf8');
    } catch (error) {
      problems.push(
        `${file}: cannot read: ${(error as NodeJS.ErrnoException).code ?? (error as Error).message}`,
      );
      continue;
    }
    const parsed = parseObjects(text, shown);
    problems.push(...parsed.problems);
    for (const o of parsed.objects) flatten(o, shown, found, problems);
  }
  return buildInventory(found, problems);
}

export interface ClusterInventoryOptions {
  /**
   * Read the labels of each distinct namespace once (`get namespaces`), for policies with a
   * namespaceSelector. Default false: the audit asks only when some policy selects on them.
   */
  readonly namespaceLabels?: boolean;
}

/** Namespaces read at once when their labels are asked for. */
export const NAMESPACE_READ_CONCURRENCY = 8;

/**
 * The cluster's workloads through the API server: Pods and every controller kind, across namespaces.
 * A resource the API cannot list fails the whole inventory (a partial audit would read as compliant).
 */
export async function inventoryFromCluster(
  api: KubernetesApi,
  options: ClusterInventoryOptions = {},
): Promise<Inventory> {
  if (!api.listWorkloads) throw new Error('this Kubernetes client cannot list workloads');
  const objects: unknown[] = [];
  for (const resource of Object.keys(WORKLOAD_RESOURCES) as WorkloadResource[]) {
    const list = await api.listWorkloads(resource);
    // Lists drop kind and apiVersion from their items; put them back from the resource.
    const { kind, apiVersion } = RESOURCE_KINDS[resource];
    for (const item of list.items) objects.push({ apiVersion, kind, ...item });
  }
  const inventory = inventoryFromObjects(objects);
  return options.namespaceLabels ? withNamespaceLabels(api, inventory) : inventory;
}

/**
 * Each distinct namespace of the workloads read once. One that cannot be read (missing, forbidden,
 * unreachable) keeps its workloads' namespace labels unknown, which fails closed (a namespaceSelector then
 * selects them), and says so in `notes`; it does not stop the audit, the labels only narrow policies.
 */
async function withNamespaceLabels(api: KubernetesApi, inventory: Inventory): Promise<Inventory> {
  const names = [
    ...new Set(inventory.workloads.flatMap((w) => (w.namespace !== undefined ? [w.namespace] : []))),
  ].sort();
  const labels = new Map<string, Record<string, string>>();
  const notes: string[] = [];
  const unknown = (name: string, why: string) =>
    notes.push(
      `namespace ${name}: labels unreadable, so every namespaceSelector is assumed to select it: ${why}`,
    );
  await mapLimit(names, NAMESPACE_READ_CONCURRENCY, async (name) => {
    try {
      const found = await api.getNamespace(name);
      if (found) labels.set(name, stringMap(found.metadata.labels));
      else unknown(name, 'not found');
    } catch (error) {
      unknown(name, error instanceof Error ? error.message : String(error));
    }
  });
  notes.sort();
  return {
    ...inventory,
    workloads: inventory.workloads.map((w) => {
      const namespaceLabels = w.namespace !== undefined ? labels.get(w.namespace) : undefined;
      return namespaceLabels ? { ...w, namespaceLabels } : w;
    }),
    notes: [...(inventory.notes ?? []), ...notes],
  };
}

const RESOURCE_KINDS: Record<WorkloadResource, { kind: string; apiVersion: string }> = {
  pods: { kind: 'Pod', apiVersion: 'v1' },
  replicasets: { kind: 'ReplicaSet', apiVersion: 'apps/v1' },
  deployments: { kind: 'Deployment', apiVersion: 'apps/v1' },
  statefulsets: { kind: 'StatefulSet', apiVersion: 'apps/v1' },
  daemonsets: { kind: 'DaemonSet', apiVersion: 'apps/v1' },
  jobs: { kind: 'Job', apiVersion: 'batch/v1' },
  cronjobs: { kind: 'CronJob', apiVersion: 'batch/v1' },
  replicationcontrollers: { kind: 'ReplicationController', apiVersion: 'v1' },
};
