/**
 * `portcullis verify-bundle`: the sigstore-conformance client protocol for bundle verification
 * (src/sigstore/conformance.ts does the work). Exit 0 verified, 1 not verified (one line on stderr
 * saying why), 2 usage.
 */
import type { Command } from 'commander';
import type { CommandContext, Io } from '../command.ts';
import { EXIT_ALLOWED, EXIT_DENIED, UsageError } from '../exit-codes.ts';
import { verifyBundleCommand } from '../../sigstore/conformance.ts';

export interface VerifyBundleOptions {
  readonly bundle: string;
  readonly certificateIdentity?: string;
  readonly certificateOidcIssuer?: string;
  readonly key?: string;
  readonly trustedRoot?: string;
}

export async function runVerifyBundle(artifact: string, opts: VerifyBundleOptions, io: Io): Promise<number> {
  const byIdentity = opts.certificateIdentity !== undefined || opts.certificateOidcIssuer !== undefined;
  if (byIdentity && opts.key !== undefined) {
    throw new UsageError(
      'give either --certificate-identity and --certificate-oidc-issuer, or --key, not both',
    );
  }
  if (!byIdentity && opts.key === undefined) {
    throw new UsageError('give --certificate-identity and --certificate-oidc-issuer, or --key');
  }
  if (byIdentity && (opts.certificateIdentity === undefined || opts.certificateOidcIssuer === undefined)) {
    throw new UsageError('--certificate-identity and --certificate-oidc-issuer must be given together');
  }
  const result = await verifyBundleCommand({
    bundle: opts.bundle,
    artifact,
    ...(opts.certificateIdentity !== undefined ? { certificateIdentity: opts.certificateIdentity } : {}),
    ...(opts.certificateOidcIssuer !== undefined
      ? { certificateOidcIssuer: opts.certificateOidcIssuer }
      : {}),
    ...(opts.key !== undefined ? { key: opts.key } : {}),
    ...(opts.trustedRoot !== undefined ? { trustedRoot: opts.trustedRoot } : {}),
  });
  if (result.ok) {
    io.stdout.write(`${result.summary}\n`);
    return EXIT_ALLOWED;
  }
  io.stderr.write(`portcullis: verify-bundle: ${result.reason.replace(/\s*\n\s*/g, ' ')}\n`);
  return EXIT_DENIED;
}

export function registerVerifyBundle(program: Command, { io, setExitCode }: CommandContext): void {
  program
    .command('verify-bundle')
    .description(
      'verify a Sigstore bundle over a file or a digest (the sigstore-conformance client protocol)',
    )
    .argument('<artifact>', 'the signed file, or sha256:HEX of it')
    .requiredOption('--bundle <file>', 'the Sigstore bundle (JSON)')
    .option('--certificate-identity <id>', 'the exact certificate identity (SAN) expected')
    .option('--certificate-oidc-issuer <url>', 'the exact OIDC issuer expected')
    .option('--key <file>', 'verify with this PEM public key instead of a certificate identity')
    .option('--trusted-root <file>', 'trusted_root.json (default: Sigstore public-good, offline)')
    .action(async (artifact: string, opts: VerifyBundleOptions) =>
      setExitCode(await runVerifyBundle(artifact, opts, io)),
    );
}
