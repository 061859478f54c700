/**
 * `portcullis verify-bundle`: the sigstore-conformance client protocol for bundle verification.
 *
 *   verify-bundle --bundle FILE (--certificate-identity ID --certificate-oidc-issuer URL | --key PEMFILE)
 *                 [--trusted-root FILE] (ARTIFACT_PATH | sha256:HEX)
 *
 * Identity and issuer are exact values (the protocol passes no regular expressions). A transparency
 * log entry is required in both modes (cosign verify-blob's default). The public-good trust root is
 * used when none is given. The caller (CLI) maps `ok: false` to a non-zero exit with the one-line reason.
 */
import { compileAuthority, type SigningAuthority } from './authority.ts';
import { digestArtifact, type Artifact } from './bundle/artifact.ts';
import { SigstoreError, describeError } from './errors.ts';
import { DEFAULT_LIMITS } from './limits.ts';
import { loadPublicGoodTrustRoot } from './trust/public-good.ts';
import { loadTrustedRoot, type TrustRoot } from './trust/trusted-root.ts';
import { parseBundle, verifyBundle } from './verifier.ts';
import { readBoundedFileSync } from '../util/bounded-file.ts';

export interface VerifyBundleArgs {
  readonly bundle: string;
  readonly certificateIdentity?: string;
  readonly certificateOidcIssuer?: string;
  readonly key?: string;
  readonly trustedRoot?: string;
  /** A file path, or `sha256:<64 hex>`. */
  readonly artifact: string;
}

export type VerifyBundleResult =
  { readonly ok: true; readonly summary: string } | { readonly ok: false; readonly reason: string };

const MAX_ARTIFACT_BYTES = 512 * 1024 * 1024;

function readFile(path: string, what: string, max: number): Buffer {
  try {
    return readBoundedFileSync(path, max);
  } catch (e) {
    throw new SigstoreError('BUNDLE_INVALID', `cannot read ${what} ${path}: ${describeError(e)}`);
  }
}

export async function verifyBundleCommand(args: VerifyBundleArgs): Promise<VerifyBundleResult> {
  try {
    const byIdentity = args.certificateIdentity !== undefined || args.certificateOidcIssuer !== undefined;
    if (byIdentity && args.key !== undefined) {
      return {
        ok: false,
        reason: 'give either --certificate-identity and --certificate-oidc-issuer, or --key, not both',
      };
    }
    if (!byIdentity && args.key === undefined) {
      return { ok: false, reason: 'missing --certificate-identity and --certificate-oidc-issuer, or --key' };
    }
    if (byIdentity && (!args.certificateIdentity || !args.certificateOidcIssuer)) {
      return {
        ok: false,
        reason: '--certificate-identity and --certificate-oidc-issuer must be given together',
      };
    }
    const trustRoot: TrustRoot = args.trustedRoot
      ? loadTrustedRoot(args.trustedRoot)
      : loadPublicGoodTrustRoot();
    const authority = compileAuthority(
      args.key !== undefined
        ? {
            kind: 'key',
            name: 'verify-bundle',
            keys: [readFile(args.key, 'key', 64 * 1024).toString('utf8')],
            tlog: { required: true },
            trustRoot,
          }
        : {
            kind: 'keyless',
            name: 'verify-bundle',
            identities: [
              {
                issuer: { exact: args.certificateOidcIssuer as string },
                subject: { exact: args.certificateIdentity as string },
              },
            ],
            trustRoot,
          },
    ) as SigningAuthority;
    const bundle = parseBundle(
      readFile(args.bundle, 'bundle', DEFAULT_LIMITS.maxBundleBytes),
      DEFAULT_LIMITS,
    );
    const artifact: Artifact = /^sha\d+:/.test(args.artifact)
      ? digestArtifact(args.artifact)
      : { kind: 'bytes', bytes: readFile(args.artifact, 'artifact', MAX_ARTIFACT_BYTES) };
    const verified = verifyBundle(bundle, { artifact, authority, predicateType: null });
    return { ok: true, summary: `verified: ${verified.summary}` };
  } catch (e) {
    return {
      ok: false,
      reason: e instanceof SigstoreError ? e.message : `verification failed: ${describeError(e)}`,
    };
  }
}
