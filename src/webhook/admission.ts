/**
 * AdmissionReview (`admission.k8s.io/v1`) in, AdmissionReview out: which requests are checked, each
 * image decided under the internal deadline, and a response people can read in kubectl.
 *
 * Fail closed: an object we cannot read, an image without a decision, an internal error or the deadline
 * all deny. Nothing is ever allowed because something failed, and nothing a client writes into the
 * object (annotations, labels) is trusted as evidence of an earlier verification.
 */
import type { Decision } from '../engine/decision.ts';
import type { AdmissionContext } from '../engine/facts.ts';
import type { PolicySet } from '../policy/model.ts';
import type {
  AdmissionRequest,
  AdmissionResponse,
  AdmissionReviewRequest,
  AdmissionReviewResponse,
  Operation,
} from '../kubernetes/types.ts';
import { ADMISSION_API_VERSION } from '../kubernetes/types.ts';
import type { PodImage } from '../kubernetes/pod-spec.ts';
import { isJsonObject as isObject, podImages } from '../kubernetes/pod-spec.ts';
import type { Engine, ImageResult } from './engine.ts';
import { decideAll } from './engine.ts';
import { buildPinPatch, pinTarget, type PatchOperation, type PinTarget } from './mutate.ts';
import { failureLines, formatDenial, formatWarnings, oneLine } from './messages.ts';
import type { AuditImage, AuditRecord } from './audit.ts';
import type { CredentialsResolver, RequestCredentials } from './credentials.ts';
import { auditImage } from './audit.ts';

/** A body that is not a usable AdmissionReview: answered with HTTP 400 and this message. */
export class AdmissionReviewError extends Error {
  readonly code = 'ADMISSION_REVIEW_INVALID';
  constructor(message: string) {
    super(message);
    this.name = 'AdmissionReviewError';
  }
}

const OPERATIONS: readonly Operation[] = ['CREATE', 'UPDATE', 'DELETE', 'CONNECT'];
const MAX_UID_LENGTH = 128;

/** Checks the envelope; the object inside is read later, and its problems deny rather than 400. */
export function parseAdmissionReview(body: unknown): AdmissionReviewRequest {
  const fail = (message: string): never => {
    throw new AdmissionReviewError(message);
  };
  if (!isObject(body)) fail('the request body must be a JSON object (an AdmissionReview)');
  const review = body as Record<string, unknown>;
  if (review.kind !== 'AdmissionReview') {
    fail(`kind must be "AdmissionReview", got ${JSON.stringify(review.kind ?? null)}`);
  }
  if (review.apiVersion !== ADMISSION_API_VERSION) {
    fail(
      `apiVersion must be "${ADMISSION_API_VERSION}", got ${JSON.stringify(review.apiVersion ?? null)}` +
        ' (set admissionReviewVersions: ["v1"] in the webhook configuration)',
    );
  }
  const request = review.request;
  if (!isObject(request))
    fail('request is missing: an AdmissionReview sent to a webhook must carry a request');
  const r = request as Record<string, unknown>;
  if (typeof r.uid !== 'string' || r.uid === '') fail('request.uid is missing or not a string');
  if ((r.uid as string).length > MAX_UID_LENGTH)
    fail(`request.uid is longer than ${MAX_UID_LENGTH} characters`);
  if (typeof r.operation !== 'string' || !OPERATIONS.includes(r.operation as Operation)) {
    fail(
      `request.operation must be one of ${OPERATIONS.join(', ')}, got ${JSON.stringify(r.operation ?? null)}`,
    );
  }
  const gvk = r.kind;
  if (!isObject(gvk) || typeof gvk.kind !== 'string' || typeof gvk.version !== 'string') {
    fail('request.kind must be an object with group, version and kind');
  }
  const gvr = r.resource;
  if (!isObject(gvr) || typeof gvr.resource !== 'string') {
    fail('request.resource must be an object with group, version and resource');
  }
  for (const field of ['subResource', 'name', 'namespace'] as const) {
    if (r[field] !== undefined && typeof r[field] !== 'string') fail(`request.${field} must be a string`);
  }
  if (r.userInfo !== undefined && !isObject(r.userInfo)) fail('request.userInfo must be an object');
  const k = gvk as Record<string, unknown>;
  const res = gvr as Record<string, unknown>;
  const userInfo = isObject(r.userInfo) ? r.userInfo : {};
  return {
    apiVersion: ADMISSION_API_VERSION,
    kind: 'AdmissionReview',
    request: {
      uid: r.uid as string,
      kind: {
        group: typeof k.group === 'string' ? k.group : '',
        version: k.version as string,
        kind: k.kind as string,
      },
      resource: {
        group: typeof res.group === 'string' ? res.group : '',
        version: typeof res.version === 'string' ? res.version : '',
        resource: res.resource as string,
      },
      ...(typeof r.subResource === 'string' && r.subResource !== '' ? { subResource: r.subResource } : {}),
      ...(typeof r.name === 'string' ? { name: r.name } : {}),
      ...(typeof r.namespace === 'string' ? { namespace: r.namespace } : {}),
      operation: r.operation as Operation,
      userInfo: {
        ...(typeof userInfo.username === 'string' ? { username: userInfo.username } : {}),
        ...(typeof userInfo.uid === 'string' ? { uid: userInfo.uid } : {}),
      },
      ...(r.object !== undefined ? { object: r.object } : {}),
      ...(r.oldObject !== undefined && r.oldObject !== null ? { oldObject: r.oldObject } : {}),
      ...(r.dryRun === true ? { dryRun: true } : {}),
    },
  };
}

const PODSCALABLE = new Set(['Deployment', 'ReplicaSet', 'StatefulSet', 'ReplicationController']);

/**
 * Why a request needs no check, or undefined when it must be checked. Only facts the API server
 * vouches for count: the operation, the subresource, and the stored object (`oldObject`) compared
 * with the new one. Objects being deleted (deletionTimestamp) are still checked: skipping them was a
 * bypass elsewhere (Kyverno CVE-2023-34091).
 */
export function skipReason(request: AdmissionRequest): string | undefined {
  if (request.operation === 'DELETE' || request.operation === 'CONNECT') {
    return `${request.operation} requests are not checked`;
  }
  if (request.subResource !== undefined && request.subResource !== 'ephemeralcontainers') {
    // status, scale, binding, eviction...: none of them can change an image.
    return `the ${request.subResource} subresource cannot change images`;
  }
  if (request.operation !== 'UPDATE' || request.oldObject === undefined) return undefined;
  const now = imagesOf(request, request.object);
  const before = imagesOf(request, request.oldObject);
  if (now.problems.length > 0 || before.problems.length > 0) return undefined;
  if (!sameImages(now.images, before.images)) return undefined;
  // Same images at the same places: nothing new would run. A scale-down is only skipped this way;
  // policy-controller skips any scale-down, even one that also changes an image.
  if (PODSCALABLE.has(now.kind) && replicas(request.object) < replicas(request.oldObject)) {
    return 'a scale-down that does not change images';
  }
  return 'an update that does not change images';
}

/** The object's images; an object serialized without `kind` is read as the kind the API server named. */
function imagesOf(request: AdmissionRequest, object: unknown) {
  if (isObject(object) && object.kind === undefined) return podImages({ ...object, kind: request.kind.kind });
  return podImages(object);
}

function sameImages(a: readonly PodImage[], b: readonly PodImage[]): boolean {
  return a.length === b.length && a.every((x, i) => x.pointer === b[i]!.pointer && x.image === b[i]!.image);
}

function replicas(object: unknown): number {
  const spec = isObject(object) && isObject(object.spec) ? object.spec : {};
  return typeof spec.replicas === 'number' ? spec.replicas : 1;
}

export interface AdmissionOptions {
  /** The engine now; undefined while policies are not loaded (every request is then denied). */
  readonly engine: () => Engine | undefined;
  readonly deadlineMs: number;
  /** Whether /mutate pins images to the digest verified in the request (`--no-pin` turns it off). */
  readonly pin: boolean;
  /** The workload's registry credentials (image pull secrets); absent without a Kubernetes API. */
  readonly credentials?: CredentialsResolver;
  /**
   * A namespace's labels from the Kubernetes API (src/kubernetes/api.ts); undefined when unknown. Asked
   * only when a loaded policy has a `match.namespaceSelector`; unknown labels make it apply (fail closed).
   */
  readonly namespaceLabels?: (namespace: string) => Promise<Readonly<Record<string, string>> | undefined>;
}

export interface AdmissionResult {
  readonly review: AdmissionReviewResponse;
  readonly audit: AuditRecord;
}

export type Webhook = 'validate' | 'mutate';

/** Decides one parsed AdmissionReview. Never throws. */
export async function admit(
  review: AdmissionReviewRequest,
  webhook: Webhook,
  options: AdmissionOptions,
): Promise<AdmissionResult> {
  const request = review.request;
  const record = auditBase(request, webhook);
  let pullSecrets: Partial<AuditRecord> = {};
  const respond = (
    response: Omit<AdmissionResponse, 'uid'>,
    audit: Partial<AuditRecord>,
  ): AdmissionResult => ({
    review: {
      apiVersion: ADMISSION_API_VERSION,
      kind: 'AdmissionReview',
      response: { uid: request.uid, ...response },
    },
    audit: { ...record, ...pullSecrets, allowed: response.allowed, ...audit } as AuditRecord,
  });
  const deny = (message: string, audit: Partial<AuditRecord> = {}, warnings: readonly string[] = []) =>
    respond(
      {
        allowed: false,
        status: { code: 403, reason: 'Forbidden', message },
        ...(warnings.length > 0 ? { warnings } : {}),
      },
      { verdict: 'deny', reasons: [message], ...audit },
    );

  try {
    const skip = skipReason(request);
    if (skip !== undefined) return respond({ allowed: true }, { verdict: 'skip', skipped: skip });

    const found = imagesOf(request, request.object);
    const objectName = `${request.kind.kind}${record.name ? ` ${record.name}` : ''}`;
    if (found.problems.length > 0) {
      return deny(formatDenial([`portcullis cannot check ${objectName}: ${found.problems.join('; ')}`]));
    }
    const loaded = options.engine();
    if (!loaded) return deny('portcullis has no policies loaded yet; nothing can be admitted until it has');
    const started = Date.now();
    // Two independent API reads, both inside the deadline: asked at once, not one after the other.
    // Only cluster-wide policies can select on namespace labels (a namespaced one has none).
    const [credentials, context] = await Promise.all([
      requestCredentials(options, request, found.kind),
      admissionContext(request, loaded.policySet, options),
    ]);
    if (credentials) {
      const { used, notes, problem } = credentials;
      pullSecrets = { pullSecrets: { used, notes, ...(problem !== undefined ? { problem } : {}) } };
    }
    const namespace = vouchedNamespace(request);
    const engine = loaded.scoped
      ? loaded.scoped({
          ...(namespace !== undefined ? { namespace } : {}),
          ...(credentials?.registry ? { registry: credentials.registry } : {}),
        })
      : loaded;
    const results = await decideAll(
      engine,
      found.images.map((i) => i.image),
      options.deadlineMs,
      { context },
      started,
    );
    // /mutate judges each image it pins as pinned (name:tag@digest), which is what gets stored. Pinning
    // only adds the verified digest, and no rule passes a reference without one yet fails it with one,
    // so an image allowed as written keeps its decision; the others are decided again as pinned (by
    // digest: the tag is not resolved again). /validate checks the stored, pinned object regardless.
    const targets = new Map<string, PinTarget>();
    let pinnedResults = new Map<string, ImageResult>();
    const toPin = webhook === 'mutate' && options.pin ? pinnable(request, found.images) : [];
    for (const at of toPin) {
      const result = results.get(at.image);
      const target = pinTarget(at.image, result);
      if (!target) continue;
      targets.set(at.image, target);
      if (result && 'decision' in result && result.decision.outcome === 'allow') {
        pinnedResults.set(target.pinned, result);
      }
    }
    const undecided = [...targets.values()].map((t) => t.pinned).filter((p) => !pinnedResults.has(p));
    if (undecided.length > 0) {
      const again = await decideAll(engine, undecided, options.deadlineMs, { context }, started);
      pinnedResults = new Map([...pinnedResults, ...again]);
    }
    const pinPaths = new Set(toPin.map((i) => i.pointer));
    const judged = found.images.map((at) => {
      const target = pinPaths.has(at.pointer) ? targets.get(at.image) : undefined;
      return { at, result: target ? pinnedResults.get(target.pinned)! : results.get(at.image)! };
    });
    const images: AuditImage[] = judged.map(({ at, result }) => auditImage(at, result));
    const policySetVersion = engine.policySet.version;

    const denials = judged.flatMap(({ at, result }) => denialLine(at, result) ?? []);
    const warnings = formatWarnings(judged.flatMap(({ at, result }) => warningLines(at, result)));
    if (denials.length > 0 && credentials?.problem !== undefined) {
      denials.push(
        `registry credentials unavailable (private images cannot be verified): ${credentials.problem}`,
      );
    }
    if (denials.length > 0) {
      return deny(formatDenial(denials), { images, policySetVersion, reasons: denials }, warnings);
    }
    const patch: PatchOperation[] = buildPinPatch(toPin, targets, pinnedResults);
    return respond(
      {
        allowed: true,
        ...(warnings.length > 0 ? { warnings } : {}),
        ...(patch.length > 0
          ? { patchType: 'JSONPatch' as const, patch: Buffer.from(JSON.stringify(patch)).toString('base64') }
          : {}),
      },
      {
        verdict: warnings.length > 0 ? 'warn' : 'allow',
        images,
        policySetVersion,
        reasons: [],
        ...(patch.length > 0 ? { pinned: patch.map((p) => ({ path: p.path, value: p.value })) } : {}),
      },
    );
  } catch (error) {
    // Our bug; still an answer, and still a denial.
    const message = error instanceof Error ? error.message : String(error);
    return deny(`portcullis failed to check this request (internal error: ${oneLine(message)}); denied`);
  }
}

/**
 * What `spec.match` sees: the kind and namespace the API server names, the object's own labels, and the
 * namespace's labels when a policy needs them. Anything unreadable stays unknown, which never skips a
 * policy. Labels select; they never vouch for anything.
 */
async function admissionContext(
  request: AdmissionRequest,
  policySet: PolicySet,
  options: AdmissionOptions,
): Promise<AdmissionContext> {
  const meta = metadataOf(request.object) ?? {};
  const namespace = vouchedNamespace(request);
  const labels = stringMap(meta.labels);
  let namespaceLabels: Readonly<Record<string, string>> | undefined;
  const needed = policySet.policies.some((p) => p.match?.namespaceSelector !== undefined);
  if (needed && namespace !== undefined && options.namespaceLabels) {
    // Bounded: a slow API server costs at most a quarter of the deadline, then the labels are unknown.
    let timer: NodeJS.Timeout | undefined;
    const giveUp = new Promise<undefined>((resolve) => {
      timer = setTimeout(() => resolve(undefined), Math.max(1, Math.floor(options.deadlineMs / 4)));
    });
    try {
      const found = await Promise.race([options.namespaceLabels(namespace), giveUp]);
      namespaceLabels = found === undefined ? undefined : stringMap(found);
    } catch {
      namespaceLabels = undefined;
    } finally {
      clearTimeout(timer);
    }
  }
  return {
    kind: request.kind.kind,
    ...(namespace !== undefined ? { namespace } : {}),
    ...(labels !== undefined ? { labels } : {}),
    ...(namespaceLabels !== undefined ? { namespaceLabels } : {}),
  };
}

/**
 * The request's namespace as the API server names it (from the URL it was sent to); undefined when it
 * names none. The object's `metadata.namespace` is the client's word and never chooses which policies
 * apply (it only fills the audit record).
 */
function vouchedNamespace(request: AdmissionRequest): string | undefined {
  return request.namespace !== undefined && request.namespace !== '' ? request.namespace : undefined;
}

/** A string→string map (absent = `{}`); undefined when anything in it is not a string. */
function stringMap(value: unknown): Record<string, string> | undefined {
  if (value === undefined || value === null) return {};
  if (!isObject(value)) return undefined;
  const entries = Object.entries(value);
  if (!entries.every(([, v]) => typeof v === 'string')) return undefined;
  return Object.fromEntries(entries) as Record<string, string>;
}

/**
 * The images a patch may touch. On UPDATE only images that changed (re-pinning an unchanged one would
 * restart its container); on the ephemeralcontainers subresource only ephemeral containers (the rest
 * of a running pod's spec cannot be changed through it).
 */
function pinnable(request: AdmissionRequest, images: readonly PodImage[]): PodImage[] {
  let candidates = images;
  if (request.subResource === 'ephemeralcontainers') {
    candidates = candidates.filter((i) => i.field === 'ephemeralContainers');
  }
  if (request.operation === 'UPDATE' && request.oldObject !== undefined) {
    const before = new Map(imagesOf(request, request.oldObject).images.map((i) => [i.pointer, i.image]));
    candidates = candidates.filter((i) => before.get(i.pointer) !== i.image);
  }
  return [...candidates];
}

/** One line per denied image: the path, the image as written, and every failing enforce rule. */
export function denialLine(at: PodImage, result: ImageResult): string | undefined {
  if ('error' in result) return `${at.path} ${at.image}: not verified, so denied: ${result.error}`;
  const d = result.decision;
  if (d.allowed) return undefined;
  return `${at.path} ${at.image}: ${denialReasons(d).join('; ')}`;
}

function denialReasons(d: Decision): string[] {
  const fromPolicies = failureLines(d, 'enforce', (name) => `denied by policy ${name}`);
  if (fromPolicies.length > 0) return fromPolicies;
  // No policy (noMatch: deny) or an unusable reference: the engine's own sentences.
  return d.reasons.length > 0 ? d.reasons.map((r) => `denied: ${r}`) : ['denied: no verdict'];
}

/** The image's warnings, each naming the path and the image as written. */
export function warningLines(at: Pick<PodImage, 'path' | 'image'>, result: ImageResult): string[] {
  if ('error' in result) return [];
  return result.decision.warnings.map((w) => `${at.path} ${at.image}: ${w}`);
}

function auditBase(request: AdmissionRequest, webhook: Webhook): AuditRecord {
  const meta = metadataOf(request.object) ?? metadataOf(request.oldObject) ?? {};
  const name =
    request.name ??
    (typeof meta.name === 'string'
      ? meta.name
      : typeof meta.generateName === 'string'
        ? `${meta.generateName}*`
        : '');
  const namespace = request.namespace ?? (typeof meta.namespace === 'string' ? meta.namespace : '');
  const { group, version, kind } = request.kind;
  return {
    time: new Date().toISOString(),
    source: 'admission',
    webhook,
    uid: request.uid,
    user: request.userInfo.username ?? '',
    operation: request.operation,
    kind: `${group === '' ? '' : `${group}/`}${version}/${kind}`,
    ...(request.subResource ? { subResource: request.subResource } : {}),
    namespace,
    name,
    dryRun: request.dryRun === true,
    allowed: false,
    verdict: 'deny',
    images: [],
    reasons: [],
  };
}

function metadataOf(object: unknown): Record<string, unknown> | undefined {
  return isObject(object) && isObject(object.metadata) ? object.metadata : undefined;
}

/** The request's pull-secret credentials; a failure becomes a `problem` (fail closed at the registry). */
async function requestCredentials(
  options: AdmissionOptions,
  request: AdmissionRequest,
  kind: string,
): Promise<RequestCredentials | undefined> {
  if (!options.credentials) return undefined;
  try {
    return await options.credentials(request, request.object, kind);
  } catch (error) {
    const message = error instanceof Error ? error.message : String(error);
    return { used: [], notes: [], problem: `image pull secrets could not be read: ${oneLine(message)}` };
  }
}
