import type { PolicySet } from '../../policy/model.ts';
import type { Io } from '../command.ts';
import type { ImageDecider } from '../../app/decide.ts';
import { createDecider } from '../../app/decide.ts';
import { contextKey } from '../../app/context.ts';
import { EvidenceMemo } from '../../app/evidence.ts';
import type { Decision } from '../../engine/decision.ts';
import { loadPolicyPaths, loadPolicySet, setVersion } from '../../policy/load.ts';
import type { PolicyFile } from '../../policy/load.ts';
import { resolve } from 'node:path';
import { formatDiagnostic } from '../../policy/format-diagnostic.ts';
import { UsageError } from '../exit-codes.ts';
import { registryClientFromFlags, timeoutMs, type RegistryFlags } from '../registry-options.ts';

export interface DecisionOptions extends RegistryFlags {
  readonly policy?: string[];
  readonly output: 'text' | 'json';
  readonly offline: boolean;
}

/**
 * Loads the policy set or explains why not; policy errors are configuration errors (exit 2).
 * `adHoc` (from signature flags, see adHocSignaturePolicy) is added to the set, or is the whole set
 * when no --policy is given.
 */
export async function loadPoliciesOrExplain(
  paths: string[] | undefined,
  io: Io,
  adHoc?: PolicyFile,
): Promise<PolicySet> {
  const hasPaths = paths !== undefined && paths.length > 0;
  if (!hasPaths && !adHoc) throw new UsageError('at least one --policy PATH is required');
  const fromPaths = hasPaths ? explained(await loadPolicyPaths(paths), io) : undefined;
  const fromFlags = adHoc ? explained(loadPolicySet([adHoc]), io) : undefined;
  if (!fromPaths) return fromFlags as PolicySet;
  if (!fromFlags) return fromPaths;
  const clash = fromFlags.policies.find((p) => fromPaths.policies.some((q) => q.name === p.name));
  if (clash)
    throw new UsageError(
      `a policy named ${clash.name} is already in the policy set; the command-line policy needs that name`,
    );
  const policies = [...fromPaths.policies, ...fromFlags.policies];
  return { policies, noMatch: fromPaths.noMatch, version: setVersion(policies, fromPaths.noMatch) };
}

function explained(result: Awaited<ReturnType<typeof loadPolicyPaths>>, io: Io): PolicySet {
  if (!result.ok) {
    for (const d of result.diagnostics) io.stderr.write(formatDiagnostic(d) + '\n');
    const errors = result.diagnostics.filter((d) => d.severity === 'error').length;
    throw new UsageError(`the policy set has ${errors} error(s); nothing was verified`);
  }
  for (const w of result.warnings) io.stderr.write(formatDiagnostic(w) + '\n');
  return result.policySet;
}

/** `cosign verify`-style flags: one signatures rule, for every image, without a policy file. */
export interface SignatureFlags {
  readonly key?: string;
  readonly insecureIgnoreTlog?: boolean;
  readonly certificateIdentity?: string;
  readonly certificateIdentityRegexp?: string;
  readonly certificateOidcIssuer?: string;
  readonly certificateOidcIssuerRegexp?: string;
  readonly trustedRoot?: string;
  readonly signatureRepository?: string;
  readonly attachmentTagPrefix?: string;
}

/** The name of the policy the signature flags make. */
export const AD_HOC_POLICY = 'command-line';
export const AD_HOC_FILE = '(command line)';

/**
 * The policy the signature flags describe, as a policy document for the ordinary loader (so the flags
 * get the same checks and errors as a file). Undefined when no signature flag is given.
 *
 * Like `cosign verify`, a key signature must be in a transparency log unless --insecure-ignore-tlog;
 * keyless always needs the log (or --insecure-ignore-tlog with an RFC 3161 timestamp).
 */
export function adHocSignaturePolicy(flags: SignatureFlags): PolicyFile | undefined {
  const identity = flags.certificateIdentity ?? flags.certificateIdentityRegexp;
  const issuer = flags.certificateOidcIssuer ?? flags.certificateOidcIssuerRegexp;
  const keyless = identity !== undefined || issuer !== undefined;
  const any =
    flags.key !== undefined ||
    keyless ||
    flags.trustedRoot !== undefined ||
    flags.insecureIgnoreTlog === true ||
    flags.signatureRepository !== undefined ||
    flags.attachmentTagPrefix !== undefined;
  if (!any) return undefined;
  if (flags.key !== undefined && keyless) {
    throw new UsageError('give either --key or --certificate-identity/--certificate-oidc-issuer, not both');
  }
  if (flags.key === undefined && !keyless) {
    throw new UsageError(
      'signature flags need --key FILE, or --certificate-identity[-regexp] and --certificate-oidc-issuer[-regexp]',
    );
  }
  const both = (a?: string, b?: string) => a !== undefined && b !== undefined;
  if (both(flags.certificateIdentity, flags.certificateIdentityRegexp)) {
    throw new UsageError('give either --certificate-identity or --certificate-identity-regexp, not both');
  }
  if (both(flags.certificateOidcIssuer, flags.certificateOidcIssuerRegexp)) {
    throw new UsageError(
      'give either --certificate-oidc-issuer or --certificate-oidc-issuer-regexp, not both',
    );
  }
  if (keyless && (identity === undefined || issuer === undefined)) {
    throw new UsageError(
      identity === undefined
        ? '--certificate-identity or --certificate-identity-regexp is required for keyless verification'
        : '--certificate-oidc-issuer or --certificate-oidc-issuer-regexp is required for keyless verification',
    );
  }
  const source = {
    ...(flags.signatureRepository !== undefined ? { repository: flags.signatureRepository } : {}),
    ...(flags.attachmentTagPrefix !== undefined ? { tagPrefix: flags.attachmentTagPrefix } : {}),
  };
  const authority = {
    name: flags.key !== undefined ? 'key' : 'keyless',
    ...(flags.key !== undefined
      ? { key: { path: resolve(flags.key) } }
      : {
          keyless: {
            identities: [
              {
                ...(flags.certificateOidcIssuer !== undefined
                  ? { issuer: flags.certificateOidcIssuer }
                  : { issuerRegExp: flags.certificateOidcIssuerRegexp }),
                ...(flags.certificateIdentity !== undefined
                  ? { subject: flags.certificateIdentity }
                  : { subjectRegExp: flags.certificateIdentityRegexp }),
              },
            ],
          },
        }),
    tlog: { required: flags.insecureIgnoreTlog !== true },
    ...(flags.trustedRoot !== undefined ? { trustRoot: resolve(flags.trustedRoot) } : {}),
    ...(Object.keys(source).length > 0 ? { source } : {}),
  };
  const document = {
    apiVersion: 'portcullis.dev/v1alpha1',
    kind: 'ImagePolicy',
    metadata: { name: AD_HOC_POLICY },
    spec: {
      description: 'from the signature flags of the command line',
      images: [{ glob: '**' }],
      rules: [{ name: 'signatures', signatures: { authorities: [authority] } }],
    },
  };
  // JSON is YAML: the loader reads it, and its positions point into this text.
  return { path: AD_HOC_FILE, text: JSON.stringify(document, null, 2) + '\n' };
}

/**
 * A decider for one run of the command's flags; `close` releases registry connections. Within the run an
 * image written many times (one image in every manifest of a directory) is decided once per distinct
 * request, and decisions of one digest share the evidence fetched for it (app/evidence.ts); each run has
 * its own, so nothing outlives it.
 */
export async function deciderFor(
  policySet: PolicySet,
  opts: DecisionOptions,
): Promise<{ decider: ImageDecider; close: () => Promise<void> }> {
  const deadline = timeoutMs(opts);
  const evidence = new EvidenceMemo();
  if (opts.offline) {
    return {
      decider: oncePerRequest(createDecider(policySet, { offline: true, timeoutMs: deadline, evidence })),
      close: async () => {},
    };
  }
  const registry = await registryClientFromFlags(opts);
  return {
    decider: oncePerRequest(
      createDecider(policySet, { offline: false, registry, timeoutMs: deadline, evidence }),
    ),
    close: () => registry.close(),
  };
}

/** Identical requests (image as written, `as`, context) share one decision. */
function oncePerRequest(decider: ImageDecider): ImageDecider {
  const decided = new Map<string, Promise<Decision>>();
  return {
    decide(image, request = {}) {
      const key = JSON.stringify([
        image,
        request.as ?? null,
        request.context ? contextKey(request.context) : null,
      ]);
      let decision = decided.get(key);
      if (!decision) decided.set(key, (decision = decider.decide(image, request)));
      return decision;
    },
  };
}

/** Progress for long runs goes to stderr, and only when a person is watching it. */
export function progress(io: Io, total: number): (done: number) => void {
  const tty = (io.stderr as NodeJS.WriteStream).isTTY === true;
  if (!tty || total < 5) return () => {};
  return (done) => {
    io.stderr.write(`\rverifying ${done}/${total}`);
    if (done === total) io.stderr.write('\r\x1b[K');
  };
}

export const DECISION_CONCURRENCY = 8;
