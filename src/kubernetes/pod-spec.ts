/**
 * Every image in a parsed Kubernetes object (the `object` of an AdmissionReview), with the path people
 * read (`spec.template.spec.containers[0].image`) and the JSON Pointer a patch needs
 * (`/spec/template/spec/containers/0/image`).
 *
 * Independent of src/sources/kubernetes.ts (which walks YAML text with positions): the same knowledge of
 * where pod specs live, over plain JSON. Anything malformed or beyond the bounds is a problem, never a
 * silent skip: an image we cannot read is an image we cannot check.
 */

/** Where the pod spec is, per built-in kind. */
export const POD_SPEC_PATHS: Readonly<Record<string, readonly string[]>> = {
  Pod: ['spec'],
  Deployment: ['spec', 'template', 'spec'],
  ReplicaSet: ['spec', 'template', 'spec'],
  StatefulSet: ['spec', 'template', 'spec'],
  DaemonSet: ['spec', 'template', 'spec'],
  Job: ['spec', 'template', 'spec'],
  ReplicationController: ['spec', 'template', 'spec'],
  CronJob: ['spec', 'jobTemplate', 'spec', 'template', 'spec'],
};

export const CONTAINER_FIELDS = ['initContainers', 'containers', 'ephemeralContainers'] as const;
export type ContainerField = (typeof CONTAINER_FIELDS)[number];

/** Bounds on what one object may make us look at. The API server's 3 MiB request limit bounds it too. */
export const POD_SPEC_LIMITS = {
  /** Containers of all three kinds plus image volumes. */
  maxImages: 512,
  /** Longer than any valid reference (name 255 + tag 128 + digest 135): longer is refused unread. */
  maxImageLength: 1024,
} as const;

export interface PodImage {
  /** As written in the object. */
  readonly image: string;
  /** `spec.template.spec.containers[0].image`, `spec.volumes[2].image.reference`. */
  readonly path: string;
  /** RFC 6901 pointer to the same string: `/spec/template/spec/containers/0/image`. */
  readonly pointer: string;
  readonly field: ContainerField | 'volumes';
  /** The container's or volume's `name`, when it has one. */
  readonly name?: string;
}

export interface PodImages {
  readonly kind: string;
  readonly images: readonly PodImage[];
  /**
   * Why some part could not be read (wrong types, bounds, unknown kind). Any problem means the object
   * cannot be fully checked; callers deny.
   */
  readonly problems: readonly string[];
}

type Json = Record<string, unknown>;

/** A JSON object (not null, not a list). */
export const isJsonObject = (v: unknown): v is Json =>
  typeof v === 'object' && v !== null && !Array.isArray(v);
const isObject = isJsonObject;

function describe(v: unknown): string {
  if (v === undefined) return 'nothing';
  if (v === null) return 'null';
  if (Array.isArray(v)) return 'a list';
  if (typeof v === 'object') return 'an object';
  return `a ${typeof v}`;
}

/** RFC 6901: `~` is `~0`, `/` is `~1`. */
export function pointerOf(segments: readonly (string | number)[]): string {
  return segments.map((s) => '/' + String(s).replaceAll('~', '~0').replaceAll('/', '~1')).join('');
}

function pathOf(segments: readonly (string | number)[]): string {
  let out = '';
  for (const s of segments) out += typeof s === 'number' ? `[${s}]` : out === '' ? s : `.${s}`;
  return out;
}

/** The kinds this module knows, for messages. */
export const SUPPORTED_KINDS: readonly string[] = Object.keys(POD_SPEC_PATHS);

/** Where a kind's pod spec is; undefined for a kind we do not know (`constructor` included). */
export function podSpecPath(kind: string): readonly string[] | undefined {
  return Object.hasOwn(POD_SPEC_PATHS, kind) ? POD_SPEC_PATHS[kind] : undefined;
}

export function podImages(object: unknown): PodImages {
  if (!isObject(object)) {
    return { kind: '', images: [], problems: [`the object must be a JSON object, got ${describe(object)}`] };
  }
  const kind = typeof object.kind === 'string' ? object.kind : '';
  if (kind === '') return { kind, images: [], problems: ['the object has no kind'] };
  const specPath = podSpecPath(kind);
  if (!specPath) {
    return {
      kind,
      images: [],
      problems: [`kind ${kind} is not supported (supported: ${SUPPORTED_KINDS.join(', ')})`],
    };
  }
  const images: PodImage[] = [];
  const problems: string[] = [];
  let current: unknown = object;
  const at: (string | number)[] = [];
  for (const key of specPath) {
    const next: unknown = isObject(current) ? current[key] : undefined;
    at.push(key);
    // A workload without a pod spec has no image to check; the API server rejects it anyway.
    if (next === undefined || next === null) return { kind, images, problems };
    if (!isObject(next)) {
      problems.push(`${pathOf(at)} must be an object, got ${describe(next)}`);
      return { kind, images, problems };
    }
    current = next;
  }
  walkPodSpec(current as Json, at, images, problems);
  return { kind, images, problems };
}

function walkPodSpec(
  spec: Json,
  prefix: readonly (string | number)[],
  images: PodImage[],
  problems: string[],
): void {
  let overflow = false;
  const add = (
    holder: Json,
    key: string,
    segments: (string | number)[],
    field: PodImage['field'],
    name: unknown,
  ) => {
    if (images.length >= POD_SPEC_LIMITS.maxImages) {
      if (!overflow)
        problems.push(
          `more than ${POD_SPEC_LIMITS.maxImages} images in one object; refusing to check a part of it`,
        );
      overflow = true;
      return;
    }
    const value = holder[key];
    const path = pathOf(segments);
    if (typeof value !== 'string') {
      problems.push(
        value === undefined ? `${path} is missing` : `${path} must be a string, got ${describe(value)}`,
      );
      return;
    }
    if (value.length > POD_SPEC_LIMITS.maxImageLength) {
      problems.push(
        `${path} is ${value.length} characters long, over the ${POD_SPEC_LIMITS.maxImageLength} a reference can have`,
      );
      return;
    }
    images.push({
      image: value,
      path,
      pointer: pointerOf(segments),
      field,
      ...(typeof name === 'string' ? { name } : {}),
    });
  };

  for (const field of CONTAINER_FIELDS) {
    const list = spec[field];
    if (list === undefined || list === null) continue;
    const listAt = [...prefix, field];
    if (!Array.isArray(list)) {
      problems.push(`${pathOf(listAt)} must be a list, got ${describe(list)}`);
      continue;
    }
    list.forEach((container: unknown, i) => {
      const at = [...listAt, i];
      if (!isObject(container)) {
        problems.push(`${pathOf(at)} must be an object (a container), got ${describe(container)}`);
        return;
      }
      add(container, 'image', [...at, 'image'], field, container.name);
    });
  }

  const volumes = spec.volumes;
  if (volumes === undefined || volumes === null) return;
  const volumesAt = [...prefix, 'volumes'];
  if (!Array.isArray(volumes)) {
    problems.push(`${pathOf(volumesAt)} must be a list, got ${describe(volumes)}`);
    return;
  }
  volumes.forEach((volume: unknown, i) => {
    const at = [...volumesAt, i];
    if (!isObject(volume)) {
      problems.push(`${pathOf(at)} must be an object (a volume), got ${describe(volume)}`);
      return;
    }
    const source = volume.image;
    if (source === undefined || source === null) return;
    if (!isObject(source)) {
      problems.push(`${pathOf([...at, 'image'])} must be an object, got ${describe(source)}`);
      return;
    }
    add(source, 'reference', [...at, 'image', 'reference'], 'volumes', volume.name);
  });
}
