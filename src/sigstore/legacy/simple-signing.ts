/**
 * cosign's simple-signing payload (the bytes a legacy `.sig` layer signs), parsed the way Go's
 * case-insensitive JSON decoding reads it (old payloads wrote `Critical`, `Docker-manifest-digest`),
 * except that two keys differing only in case are rejected as ambiguous instead of picking one.
 */
import { SigstoreError } from '../errors.ts';
import { isObject, type JsonObject as Obj } from '../json.ts';

export const SIMPLE_SIGNING_MEDIA_TYPE = 'application/vnd.dev.cosign.simplesigning.v1+json';
export const COSIGN_SIGNATURE_TYPE = 'cosign container image signature';

export interface SimpleSigningPayload {
  readonly type: string;
  readonly dockerManifestDigest: string;
  /** Ignored by cosign (signatures survive copies); an opt-in policy knob at most. */
  readonly dockerReference?: string;
  /** `-a key=value` annotations. */
  readonly optional: Readonly<Record<string, unknown>> | null;
}

function field(obj: Obj, name: string, where: string): unknown {
  const keys = Object.keys(obj).filter((k) => k.toLowerCase() === name);
  if (keys.length > 1) {
    throw new SigstoreError(
      'BUNDLE_INVALID',
      `simple-signing payload: ambiguous keys ${keys.join(', ')} in ${where}`,
    );
  }
  return keys.length === 1 ? obj[keys[0] as string] : undefined;
}

export function parseSimpleSigning(bytes: Uint8Array): SimpleSigningPayload {
  let json: unknown;
  try {
    json = JSON.parse(Buffer.from(bytes).toString('utf8'));
  } catch {
    throw new SigstoreError('BUNDLE_INVALID', 'simple-signing payload is not JSON');
  }
  if (!isObject(json))
    throw new SigstoreError('BUNDLE_INVALID', 'simple-signing payload is not a JSON object');
  const critical = field(json, 'critical', 'payload');
  if (!isObject(critical))
    throw new SigstoreError('BUNDLE_INVALID', 'simple-signing payload has no critical section');
  const type = field(critical, 'type', 'critical');
  const image = field(critical, 'image', 'critical');
  const digest = isObject(image) ? field(image, 'docker-manifest-digest', 'critical.image') : undefined;
  if (typeof type !== 'string')
    throw new SigstoreError('BUNDLE_INVALID', 'simple-signing payload has no critical.type');
  if (typeof digest !== 'string') {
    throw new SigstoreError(
      'BUNDLE_INVALID',
      'simple-signing payload has no critical.image.docker-manifest-digest',
    );
  }
  const identity = field(critical, 'identity', 'critical');
  const ref = isObject(identity) ? field(identity, 'docker-reference', 'critical.identity') : undefined;
  const optional = field(json, 'optional', 'payload');
  if (optional !== undefined && optional !== null && !isObject(optional)) {
    throw new SigstoreError('BUNDLE_INVALID', 'simple-signing payload optional section is not an object');
  }
  return {
    type,
    dockerManifestDigest: digest,
    ...(typeof ref === 'string' ? { dockerReference: ref } : {}),
    optional: optional ?? null,
  };
}

/** cosign `SimpleClaimVerifier`: the payload must be a cosign signature of exactly this image digest. */
export function checkSimpleSigningClaims(payload: SimpleSigningPayload, imageDigest: string): void {
  if (payload.type !== COSIGN_SIGNATURE_TYPE) {
    throw new SigstoreError(
      'ARTIFACT_MISMATCH',
      `simple-signing critical.type is ${JSON.stringify(payload.type.slice(0, 100))}, not ${JSON.stringify(COSIGN_SIGNATURE_TYPE)}`,
    );
  }
  if (payload.dockerManifestDigest !== imageDigest) {
    throw new SigstoreError(
      'ARTIFACT_MISMATCH',
      `signature is for ${payload.dockerManifestDigest.slice(0, 100)}, not for the image ${imageDigest}`,
    );
  }
}
