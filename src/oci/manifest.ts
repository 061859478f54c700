/**
 * Parsing and shape validation of image manifests and indexes (OCI and Docker schema 2).
 *
 * Manifests come from a registry, which is the attacker: everything is checked before anyone walks it
 * (schemaVersion 2, descriptor fields, digest grammar, sizes as non-negative safe integers) and every count
 * is capped (layers, index entries, annotations) so that a hostile manifest fails fast and bounded
 * (GHSA-95pr-fxf5-86gv: slices sized by attacker-controlled counts). A document that could be read both as
 * an image manifest and as an index (CVE-2021-41190) is refused.
 */
import type { Descriptor, Platform } from '../registry/content.ts';
import { isDescriptorDigest } from './digest.ts';
import {
  baseMediaType,
  DOCKER_MANIFEST_V1,
  DOCKER_MANIFEST_V1_SIGNED,
  IMAGE_MANIFEST_TYPES,
  INDEX_MANIFEST_TYPES,
  OCI_INDEX,
  OCI_MANIFEST,
} from './media-types.ts';

export interface ManifestLimits {
  /** Layers in an image manifest (Docker itself stops at 127; cosign signature manifests allow 1000). */
  readonly maxLayers: number;
  /** Entries in an index (also bounds referrers listed in one index). */
  readonly maxManifests: number;
  /** Entries in any one annotations map. */
  readonly maxAnnotations: number;
  /** Total UTF-16 length of all annotation keys and values in the document. */
  readonly maxAnnotationChars: number;
  /** Entries in a descriptor's `urls`. */
  readonly maxUrls: number;
}

export const DEFAULT_MANIFEST_LIMITS: ManifestLimits = {
  maxLayers: 256,
  maxManifests: 1024,
  maxAnnotations: 256,
  maxAnnotationChars: 1024 * 1024,
  maxUrls: 16,
};

interface ManifestCommon {
  readonly mediaType: string;
  readonly artifactType?: string;
  readonly subject?: Descriptor;
  readonly annotations?: Readonly<Record<string, string>>;
}

export interface ImageManifest extends ManifestCommon {
  readonly kind: 'image';
  readonly config: Descriptor;
  readonly layers: readonly Descriptor[];
}

export interface IndexManifest extends ManifestCommon {
  readonly kind: 'index';
  readonly manifests: readonly Descriptor[];
}

export type ParsedManifest = ImageManifest | IndexManifest;

export type ManifestErrorCode = 'BAD_MANIFEST' | 'TOO_MANY';

export class ManifestError extends Error {
  readonly code: ManifestErrorCode;
  /** The digest of the manifest when known, for messages. */
  readonly digest: string | undefined;
  readonly detail: string;
  constructor(code: ManifestErrorCode, detail: string, digest?: string) {
    super(`manifest ${digest ?? '(digest unknown)'}: ${detail}`);
    this.name = 'ManifestError';
    this.code = code;
    this.digest = digest;
    this.detail = detail;
  }
}

export interface ParseManifestOptions {
  /** Names the manifest in error messages. */
  readonly digest?: string;
  readonly limits?: Partial<ManifestLimits>;
}

const MAX_STRING = 4096;
const MAX_MEDIA_TYPE = 255;
// eslint-disable-next-line no-control-regex
const CONTROL = /[\u0000-\u001f\u007f]/;

/** Parse manifest bytes (strict UTF-8 JSON) and validate the shape; `mediaTypeHint` is the Content-Type. */
export function parseManifest(
  bytes: Uint8Array,
  mediaTypeHint?: string,
  options: ParseManifestOptions = {},
): ParsedManifest {
  return parseManifestJson(decodeManifestJson(bytes, options.digest), mediaTypeHint, options);
}

/** Strict UTF-8, then JSON; the raw value for `VerifiedManifest.json` (validate it with `parseManifestJson`). */
export function decodeManifestJson(bytes: Uint8Array, digest?: string): unknown {
  let text: string;
  try {
    text = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true }).decode(bytes);
  } catch {
    throw new ManifestError('BAD_MANIFEST', 'is not valid UTF-8', digest);
  }
  try {
    return JSON.parse(text) as unknown;
  } catch (error) {
    throw new ManifestError('BAD_MANIFEST', `is not valid JSON (${(error as Error).message})`, digest);
  }
}

/** Validate already-parsed JSON (e.g. `VerifiedManifest.json`). */
export function parseManifestJson(
  json: unknown,
  mediaTypeHint?: string,
  options: ParseManifestOptions = {},
): ParsedManifest {
  return new Validator({ ...DEFAULT_MANIFEST_LIMITS, ...options.limits }, options.digest).manifest(
    json,
    mediaTypeHint,
  );
}

class Validator {
  readonly limits: ManifestLimits;
  readonly digest: string | undefined;
  annotationChars = 0;
  constructor(limits: ManifestLimits, digest: string | undefined) {
    this.limits = limits;
    this.digest = digest;
  }

  fail(detail: string, code: ManifestErrorCode = 'BAD_MANIFEST'): never {
    throw new ManifestError(code, detail, this.digest);
  }

  manifest(json: unknown, mediaTypeHint: string | undefined): ParsedManifest {
    if (!isObject(json)) this.fail('is not a JSON object');
    if (json.schemaVersion !== 2) {
      this.fail(`schemaVersion must be 2 (got ${JSON.stringify(json.schemaVersion)?.slice(0, 20)})`);
    }
    const mediaType = this.kindOf(json, mediaTypeHint);
    const common = {
      mediaType,
      ...(json.artifactType !== undefined && {
        artifactType: this.mediaTypeString(json.artifactType, 'artifactType'),
      }),
      ...(json.subject !== undefined && { subject: this.descriptor(json.subject, 'subject') }),
      ...(json.annotations !== undefined && {
        annotations: this.annotations(json.annotations, 'annotations'),
      }),
    };
    if (IMAGE_MANIFEST_TYPES.includes(mediaType)) {
      if (!Array.isArray(json.layers)) this.fail('layers must be an array');
      if (json.layers.length > this.limits.maxLayers) {
        this.fail(
          `has ${json.layers.length} layers, more than the limit of ${this.limits.maxLayers}`,
          'TOO_MANY',
        );
      }
      const config = this.descriptor(json.config, 'config');
      const layers = json.layers.map((layer, i) => this.descriptor(layer, `layers[${i}]`));
      return { kind: 'image', ...common, config, layers };
    }
    if (!Array.isArray(json.manifests)) this.fail('manifests must be an array');
    if (json.manifests.length > this.limits.maxManifests) {
      this.fail(
        `lists ${json.manifests.length} manifests, more than the limit of ${this.limits.maxManifests}`,
        'TOO_MANY',
      );
    }
    const manifests = json.manifests.map((entry, i) => this.descriptor(entry, `manifests[${i}]`));
    return { kind: 'index', ...common, manifests };
  }

  /** The manifest's own mediaType wins over the header; without either, the shape decides. */
  kindOf(json: Record<string, unknown>, hint: string | undefined): string {
    const declared =
      json.mediaType === undefined ? undefined : this.mediaTypeString(json.mediaType, 'mediaType');
    const hinted = baseMediaType(hint);
    const looksLikeImage = 'layers' in json || 'config' in json;
    const looksLikeIndex = 'manifests' in json;
    if (looksLikeImage && looksLikeIndex) {
      this.fail('has both manifests and layers/config: ambiguous between image manifest and index');
    }
    let mediaType = declared;
    if (
      mediaType === undefined &&
      hinted !== undefined &&
      [...IMAGE_MANIFEST_TYPES, ...INDEX_MANIFEST_TYPES].includes(hinted)
    ) {
      mediaType = hinted;
    }
    if (mediaType === undefined) {
      if (looksLikeImage) mediaType = OCI_MANIFEST;
      else if (looksLikeIndex) mediaType = OCI_INDEX;
      else this.fail('has no mediaType and neither layers nor manifests');
    }
    if (mediaType === DOCKER_MANIFEST_V1 || mediaType === DOCKER_MANIFEST_V1_SIGNED) {
      this.fail('is Docker schema 1, which is not supported');
    }
    if (IMAGE_MANIFEST_TYPES.includes(mediaType)) {
      if (looksLikeIndex) this.fail(`has mediaType ${mediaType} but lists manifests`);
      return mediaType;
    }
    if (INDEX_MANIFEST_TYPES.includes(mediaType)) {
      if (looksLikeImage) this.fail(`has mediaType ${mediaType} but has layers/config`);
      return mediaType;
    }
    return this.fail(`has unsupported mediaType ${JSON.stringify(mediaType)}`);
  }

  descriptor(value: unknown, where: string): Descriptor {
    if (!isObject(value)) this.fail(`${where} must be an object`);
    const mediaType = this.mediaTypeString(value.mediaType, `${where}.mediaType`);
    if (!isDescriptorDigest(value.digest)) {
      this.fail(`${where}.digest ${JSON.stringify(String(value.digest).slice(0, 80))} is not a valid digest`);
    }
    const size = value.size;
    if (typeof size !== 'number' || !Number.isSafeInteger(size) || size < 0) {
      this.fail(`${where}.size must be a non-negative integer (got ${JSON.stringify(size)?.slice(0, 30)})`);
    }
    const descriptor: {
      mediaType: string;
      digest: string;
      size: number;
      artifactType?: string;
      annotations?: Record<string, string>;
      platform?: Platform;
      urls?: string[];
    } = { mediaType, digest: value.digest, size };
    if (value.artifactType !== undefined) {
      descriptor.artifactType = this.mediaTypeString(value.artifactType, `${where}.artifactType`);
    }
    if (value.annotations !== undefined) {
      descriptor.annotations = this.annotations(value.annotations, `${where}.annotations`);
    }
    if (value.platform !== undefined)
      descriptor.platform = this.platform(value.platform, `${where}.platform`);
    if (value.urls !== undefined) {
      if (!Array.isArray(value.urls) || value.urls.length > this.limits.maxUrls) {
        this.fail(`${where}.urls must be an array of at most ${this.limits.maxUrls} strings`);
      }
      descriptor.urls = value.urls.map((url, i) => this.string(url, `${where}.urls[${i}]`));
    }
    return descriptor;
  }

  platform(value: unknown, where: string): Platform {
    if (!isObject(value)) this.fail(`${where} must be an object`);
    const platform: {
      architecture: string;
      os: string;
      variant?: string;
      'os.version'?: string;
      'os.features'?: string[];
    } = {
      architecture: this.string(value.architecture, `${where}.architecture`),
      os: this.string(value.os, `${where}.os`),
    };
    if (value.variant !== undefined) platform.variant = this.string(value.variant, `${where}.variant`);
    if (value['os.version'] !== undefined) {
      platform['os.version'] = this.string(value['os.version'], `${where}.os.version`);
    }
    const features = value['os.features'];
    if (features !== undefined) {
      if (!Array.isArray(features) || features.length > 64)
        this.fail(`${where}.os.features must be a short array`);
      platform['os.features'] = features.map((f, i) => this.string(f, `${where}.os.features[${i}]`));
    }
    return platform;
  }

  annotations(value: unknown, where: string): Record<string, string> {
    if (!isObject(value) || Array.isArray(value)) this.fail(`${where} must be an object of strings`);
    const entries = Object.entries(value);
    if (entries.length > this.limits.maxAnnotations) {
      this.fail(
        `${where} has ${entries.length} entries, more than the limit of ${this.limits.maxAnnotations}`,
        'TOO_MANY',
      );
    }
    const out: Record<string, string> = Object.create(null) as Record<string, string>;
    for (const [key, v] of entries) {
      if (typeof v !== 'string') this.fail(`${where}[${JSON.stringify(key.slice(0, 80))}] must be a string`);
      this.annotationChars += key.length + v.length;
      if (this.annotationChars > this.limits.maxAnnotationChars) {
        this.fail(`annotations exceed ${this.limits.maxAnnotationChars} characters in total`, 'TOO_MANY');
      }
      out[key] = v;
    }
    return out;
  }

  mediaTypeString(value: unknown, where: string): string {
    if (
      typeof value !== 'string' ||
      value.length === 0 ||
      value.length > MAX_MEDIA_TYPE ||
      CONTROL.test(value)
    ) {
      this.fail(`${where} must be a media type string of at most ${MAX_MEDIA_TYPE} characters`);
    }
    return value;
  }

  string(value: unknown, where: string): string {
    if (typeof value !== 'string' || value.length > MAX_STRING) {
      this.fail(`${where} must be a string of at most ${MAX_STRING} characters`);
    }
    return value;
  }
}

function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}
