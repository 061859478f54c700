/**
 * The backend of the API server's ImagePolicyWebhook admission plugin (`imagepolicy.k8s.io/v1alpha1`
 * ImageReview). The plugin sends a Pod's container and init container images (or, for the
 * ephemeralcontainers subresource, the ephemeral ones) and admits the Pod only if `status.allowed`.
 *
 * The plugin's `defaultAllow: true` admits on any backend error or non-2xx answer, so this backend
 * answers every ImageReview it can recognise with a 200 and a verdict; a broken one is a denial
 * (`reviewFailure`), never an HTTP error the plugin might turn into an admission.
 *
 * Annotations (`*.image-policy.k8s.io/*`, e.g. break-glass tickets) are written by the Pod's author,
 * so they are recorded but never change a verdict.
 */
import type { ImageReviewRequest, ImageReviewResponse, ImageReviewStatus } from '../kubernetes/types.ts';
import { IMAGE_REVIEW_API_VERSION } from '../kubernetes/types.ts';
import { isJsonObject as isObject, POD_SPEC_LIMITS } from '../kubernetes/pod-spec.ts';
import type { Engine } from './engine.ts';
import { decideAll } from './engine.ts';
import { denialLine, warningLines } from './admission.ts';
import { formatDenial, formatWarnings, oneLine, truncateRunes } from './messages.ts';
import type { AuditRecord } from './audit.ts';
import { auditImage } from './audit.ts';

export class ImageReviewError extends Error {
  readonly code = 'IMAGE_REVIEW_INVALID';
  constructor(message: string) {
    super(message);
    this.name = 'ImageReviewError';
  }
}

export function parseImageReview(body: unknown): ImageReviewRequest {
  const fail = (message: string): never => {
    throw new ImageReviewError(message);
  };
  if (!isObject(body)) return fail('the request body must be a JSON object (an ImageReview)');
  if (body.kind !== 'ImageReview')
    fail(`kind must be "ImageReview", got ${JSON.stringify(body.kind ?? null)}`);
  if (body.apiVersion !== IMAGE_REVIEW_API_VERSION) {
    fail(`apiVersion must be "${IMAGE_REVIEW_API_VERSION}", got ${JSON.stringify(body.apiVersion ?? null)}`);
  }
  const spec = body.spec;
  if (!isObject(spec)) return fail('spec is missing');
  if (!Array.isArray(spec.containers)) return fail('spec.containers must be a list');
  if (spec.containers.length > POD_SPEC_LIMITS.maxImages) {
    fail(
      `spec.containers has ${spec.containers.length} entries, more than the ${POD_SPEC_LIMITS.maxImages} checked`,
    );
  }
  const containers = spec.containers.map((c: unknown, i) => {
    const image = isObject(c) ? c.image : undefined;
    if (typeof image !== 'string' || image === '')
      fail(`spec.containers[${i}].image must be a non-empty string`);
    if ((image as string).length > POD_SPEC_LIMITS.maxImageLength) {
      fail(`spec.containers[${i}].image is longer than ${POD_SPEC_LIMITS.maxImageLength} characters`);
    }
    return { image: image as string };
  });
  const annotations: Record<string, string> = {};
  if (isObject(spec.annotations)) {
    for (const [k, v] of Object.entries(spec.annotations)) if (typeof v === 'string') annotations[k] = v;
  }
  return {
    apiVersion: IMAGE_REVIEW_API_VERSION,
    kind: 'ImageReview',
    spec: {
      containers,
      annotations,
      ...(typeof spec.namespace === 'string' ? { namespace: spec.namespace } : {}),
    },
  };
}

export interface ImageReviewResult {
  readonly review: ImageReviewResponse;
  readonly audit: AuditRecord;
}

/** Audit annotation keys; the API server records them as `imagepolicywebhook.image-policy.k8s.io/<key>`. */
export const AUDIT_KEYS = {
  verdict: 'portcullis-verdict',
  policySet: 'portcullis-policy-set',
  warnings: 'portcullis-warnings',
};

const respond = (status: ImageReviewStatus): ImageReviewResponse => ({
  apiVersion: IMAGE_REVIEW_API_VERSION,
  kind: 'ImageReview',
  status,
});

/** The answer to a body that is not a usable ImageReview: a denial, so `defaultAllow` cannot admit it. */
export function reviewFailure(message: string): ImageReviewResponse {
  return respond({
    allowed: false,
    reason: `portcullis could not read the ImageReview: ${oneLine(message)}`,
    auditAnnotations: { [AUDIT_KEYS.verdict]: 'deny' },
  });
}

/** Decides one ImageReview. Never throws. */
export async function reviewImages(
  review: ImageReviewRequest,
  options: { engine: () => Engine | undefined; deadlineMs: number },
): Promise<ImageReviewResult> {
  const record: AuditRecord = {
    time: new Date().toISOString(),
    source: 'admission',
    webhook: 'imagereview',
    uid: '',
    user: '',
    operation: 'CREATE',
    kind: 'v1/Pod',
    namespace: review.spec.namespace ?? '',
    name: '',
    dryRun: false,
    allowed: false,
    verdict: 'deny',
    images: [],
    reasons: [],
  };
  const deny = (reason: string, extra: Partial<AuditRecord> = {}): ImageReviewResult => ({
    review: respond({ allowed: false, reason, auditAnnotations: { [AUDIT_KEYS.verdict]: 'deny' } }),
    audit: { ...record, reasons: [reason], ...extra },
  });
  try {
    const loaded = options.engine();
    if (!loaded) return deny('portcullis has no policies loaded yet; nothing can be admitted until it has');
    // The plugin names the Pod's namespace: that namespace's NamespacedImagePolicy resources apply too.
    const namespace = review.spec.namespace;
    const engine = loaded.scoped && namespace ? loaded.scoped({ namespace }) : loaded;
    const at = review.spec.containers.map((c, i) => ({ path: `containers[${i}].image`, image: c.image }));
    const results = await decideAll(
      engine,
      at.map((a) => a.image),
      options.deadlineMs,
    );
    const judged = at.map((a) => ({ at: a, result: results.get(a.image)! }));
    const images = judged.map(({ at: a, result }) => auditImage(a, result));
    const policySetVersion = engine.policySet.version;
    const denials = judged.flatMap(
      ({ at: a, result }) => denialLine({ ...a, pointer: '', field: 'containers' }, result) ?? [],
    );
    if (denials.length > 0) {
      return deny(formatDenial(denials), { images, policySetVersion, reasons: denials });
    }
    const warnings = formatWarnings(judged.flatMap(({ at: a, result }) => warningLines(a, result)));
    return {
      review: respond({
        allowed: true,
        auditAnnotations: {
          [AUDIT_KEYS.verdict]: warnings.length > 0 ? 'warn' : 'allow',
          [AUDIT_KEYS.policySet]: policySetVersion,
          ...(warnings.length > 0
            ? { [AUDIT_KEYS.warnings]: truncateRunes(warnings.join(' | '), 1024) }
            : {}),
        },
      }),
      audit: {
        ...record,
        allowed: true,
        verdict: warnings.length > 0 ? 'warn' : 'allow',
        images,
        policySetVersion,
      },
    };
  } catch (error) {
    const message = error instanceof Error ? error.message : String(error);
    return deny(`portcullis failed to check this ImageReview (internal error: ${oneLine(message)}); denied`);
  }
}
