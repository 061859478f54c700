/**
 * `portcullis trust-root update|show`: refresh the public-good Sigstore trust root through TUF into a
 * local cache, and say which root verification uses. Only `update` touches the network; verification
 * reads the cache and never fetches.
 *
 * update exits 0 on success, 1 when the network or TUF verification fails (the previous root stays in
 * use), 2 on usage errors. show exits 0, or 2 when the cache is unusable.
 */
import type { Command } from 'commander';
import type { CommandContext, Io } from '../command.ts';
import { outputOption } from '../command.ts';
import { EXIT_ALLOWED, EXIT_DENIED, EXIT_ERROR, UsageError } from '../exit-codes.ts';
import { updateTrustRoot, TufUpdateError } from '../../sigstore/trust/refresh.ts';
import {
  describePublicGoodTrustRoot,
  PUBLIC_GOOD_TUF,
  type PublicGoodTrustRootInfo,
} from '../../sigstore/trust/public-good.ts';
import { tufCacheDir, type RefreshState } from '../../sigstore/trust/tuf-cache.ts';
import { SigstoreError } from '../../sigstore/errors.ts';
import type { TrustRoot } from '../../sigstore/trust/trusted-root.ts';

interface UpdateFlags {
  readonly mirror: string;
  readonly cache?: string;
  readonly root?: string;
  readonly timeout: string;
}

function parseTimeout(value: string): number {
  if (!/^[0-9]{1,4}$/.test(value) || Number(value) < 1) {
    throw new UsageError(
      `--timeout must be a whole number of seconds between 1 and 9999, got ${JSON.stringify(value)}`,
    );
  }
  return Number(value) * 1000;
}

/** One line about what verification falls back to when an update fails. */
function stillInUse(cacheDir: string): string {
  try {
    const info = describePublicGoodTrustRoot({ cacheDir });
    return info.source === 'refreshed'
      ? `still using the root refreshed at ${info.refresh?.updatedAt ?? '?'} (${info.root.digest})`
      : `still using the bundled root (${info.root.digest})`;
  } catch (e) {
    return `and the cached root is unusable: ${(e as Error).message}`;
  }
}

export async function runTrustRootUpdate(flags: UpdateFlags, io: Io): Promise<number> {
  const timeoutMs = parseTimeout(flags.timeout);
  const cacheDir = flags.cache ?? tufCacheDir();
  try {
    const r = await updateTrustRoot({
      mirror: flags.mirror,
      cacheDir,
      ...(flags.root !== undefined ? { rootPath: flags.root } : {}),
      deadlineMs: timeoutMs,
      requestTimeoutMs: Math.min(timeoutMs, 10_000),
    });
    const t = r.state.tuf;
    const meta = [
      `TUF root v${t.root.version} (expires ${t.root.expires})`,
      t.timestamp ? `timestamp v${t.timestamp.version} (expires ${t.timestamp.expires})` : undefined,
      t.targets ? `targets v${t.targets.version}` : undefined,
    ].filter(Boolean);
    io.stdout.write(
      `trust root ${r.changed ? 'updated' : 'unchanged'} from ${r.state.mirror}: trusted_root.json sha256:${r.state.trustedRootSha256}; ${meta.join(', ')}; cached in ${r.cacheDir}\n`,
    );
    return EXIT_ALLOWED;
  } catch (e) {
    if (e instanceof TufUpdateError && e.code === 'TUF_BAD_OPTIONS')
      throw new UsageError(`trust-root update: ${e.message}`);
    if (e instanceof TufUpdateError) {
      io.stderr.write(`portcullis: trust-root update failed: ${e.message}; ${stillInUse(cacheDir)}\n`);
      return EXIT_DENIED;
    }
    throw e;
  }
}

const time = (d: Date | undefined): string => (d ? d.toISOString().replace('.000Z', 'Z') : 'open');
const range = (v: { start?: Date | undefined; end?: Date | undefined } | undefined): string =>
  `valid ${time(v?.start)} .. ${time(v?.end)}`;

function entries(root: TrustRoot): Array<{ kind: string; name: string; validity: string }> {
  const tr = root.trustedRoot;
  return [
    ...tr.certificateAuthorities.map((ca) => ({
      kind: 'certificate authority',
      name: ca.uri,
      validity: range(ca.validFor),
    })),
    ...tr.tlogs.map((l) => ({
      kind: 'transparency log',
      name: l.baseUrl,
      validity: range(l.publicKey?.validFor),
    })),
    ...tr.ctlogs.map((l) => ({ kind: 'CT log', name: l.baseUrl, validity: range(l.publicKey?.validFor) })),
    ...tr.timestampAuthorities.map((ta) => ({
      kind: 'timestamp authority',
      name: ta.uri,
      validity: range(ta.validFor),
    })),
  ];
}

function refreshSummary(s: RefreshState): string {
  const t = s.tuf;
  const parts = [`TUF root v${t.root.version} expires ${t.root.expires}`];
  if (t.timestamp) parts.push(`timestamp v${t.timestamp.version} expires ${t.timestamp.expires}`);
  if (t.targets) parts.push(`targets v${t.targets.version}`);
  return `refreshed ${s.updatedAt} from ${s.mirror} (${s.anchor === 'bundled' ? 'chain from the bundled TUF root' : 'chain from a given TUF root'}); ${parts.join(', ')}`;
}

export function runTrustRootShow(flags: { cache?: string; output: 'text' | 'json' }, io: Io): number {
  const cacheDir = flags.cache ?? tufCacheDir();
  let info: PublicGoodTrustRootInfo;
  try {
    info = describePublicGoodTrustRoot({ cacheDir });
  } catch (e) {
    if (e instanceof SigstoreError) {
      io.stderr.write(`portcullis: ${e.message}\n`);
      return EXIT_ERROR;
    }
    throw e;
  }
  const list = entries(info.root);
  if (flags.output === 'json') {
    const doc = {
      apiVersion: 'portcullis.dev/report/v1',
      kind: 'TrustRootReport',
      source: info.source,
      cacheDir: info.cacheDir,
      digest: info.root.digest,
      ...(info.refresh ? { refresh: info.refresh } : {}),
      ...(info.ignoredBecause ? { ignoredBecause: info.ignoredBecause } : {}),
      entries: list,
    };
    io.stdout.write(`${JSON.stringify(doc, null, 2)}\n`);
    return EXIT_ALLOWED;
  }
  const lines = [
    `public-good trust root in use: ${info.source === 'refreshed' ? `refreshed (cache ${info.cacheDir})` : `bundled with @sigstore/tuf (${PUBLIC_GOOD_TUF})`}`,
    `trusted_root.json ${info.root.digest}`,
  ];
  if (info.refresh) lines.push(refreshSummary(info.refresh));
  if (info.ignoredBecause) lines.push(`refreshed root in ${info.cacheDir} not used: ${info.ignoredBecause}`);
  if (!info.refresh)
    lines.push(`no refreshed root in ${info.cacheDir} (run \`portcullis trust-root update\`)`);
  for (const e of list) lines.push(`  ${e.kind} ${e.name} ${e.validity}`);
  io.stdout.write(`${lines.join('\n')}\n`);
  return EXIT_ALLOWED;
}

export function registerTrustRoot(program: Command, { io, setExitCode }: CommandContext): void {
  const trustRoot = program
    .command('trust-root')
    .description('refresh the public-good Sigstore trust root through TUF, or show the one in use');
  trustRoot
    .command('update')
    .description(
      'run a TUF update and cache the verified trusted_root.json (the only command that fetches it)',
    )
    .option('--mirror <url>', 'TUF repository', PUBLIC_GOOD_TUF)
    .option(
      '--cache <dir>',
      'cache directory (default $PORTCULLIS_TUF_CACHE, $XDG_CACHE_HOME/portcullis/tuf or ~/.cache/portcullis/tuf)',
    )
    .option(
      '--root <file>',
      'initial TUF root.json (default the public-good root shipped with @sigstore/tuf)',
    )
    .option('--timeout <seconds>', 'bound on the whole update', '60')
    .action(async (flags: UpdateFlags) => setExitCode(await runTrustRootUpdate(flags, io)));
  trustRoot
    .command('show')
    .description(
      'which public-good trust root verification uses (bundled or refreshed), its digest, CAs and logs',
    )
    .option('--cache <dir>', 'cache directory (default as for update)')
    .addOption(outputOption())
    .action((flags: { cache?: string; output: 'text' | 'json' }) => setExitCode(runTrustRootShow(flags, io)));
}
