/**
 * A real TUF repository, built from scratch and served on 127.0.0.1, laid out as Sigstore's
 * tuf-repo-cdn is: consistent snapshots (`<version>.root.json`, `<version>.snapshot.json`,
 * `<version>.targets.json`, unversioned `timestamp.json`) and targets under `targets/<sha256>.<name>`.
 *
 * Keys are ed25519 (node:crypto), one per role; key ids are the sha256 of the key's canonical JSON;
 * every `signed` part is signed over its securesystemslib canonical JSON, written here independently
 * of tuf-js so the client is checked against a second implementation, not against itself.
 *
 * Test-only code.
 */
import { createHash, generateKeyPairSync, sign, type KeyObject } from 'node:crypto';
import { createServer, type Server } from 'node:http';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

type Json = null | boolean | number | string | Json[] | { [key: string]: Json };

/** securesystemslib canonical JSON: sorted keys, no whitespace, integers only, only `"` and `\` escaped. */
export function canonicalJson(value: Json): string {
  if (value === null || typeof value === 'boolean') return JSON.stringify(value);
  if (typeof value === 'number') {
    if (!Number.isSafeInteger(value))
      throw new TypeError(`canonical JSON has no non-integer numbers: ${value}`);
    return String(value);
  }
  if (typeof value === 'string') return `"${value.replace(/\\/g, '\\\\').replace(/"/g, '\\"')}"`;
  if (Array.isArray(value)) return `[${value.map(canonicalJson).join(',')}]`;
  const keys = Object.keys(value).sort();
  return `{${keys.map((k) => `${canonicalJson(k)}:${canonicalJson(value[k] as Json)}`).join(',')}}`;
}

export interface TufKey {
  readonly id: string;
  readonly privateKey: KeyObject;
  readonly json: { keytype: 'ed25519'; scheme: 'ed25519'; keyval: { public: string } };
}

export function generateTufKey(): TufKey {
  const { publicKey, privateKey } = generateKeyPairSync('ed25519');
  // The raw 32-byte key is the tail of its SPKI DER; TUF keeps it as hex.
  const raw = publicKey.export({ format: 'der', type: 'spki' }).subarray(-32);
  const json = { keytype: 'ed25519', scheme: 'ed25519', keyval: { public: raw.toString('hex') } } as const;
  const id = createHash('sha256').update(canonicalJson(json)).digest('hex');
  return { id, privateKey, json };
}

const ROLES = ['root', 'targets', 'snapshot', 'timestamp'] as const;
type Role = (typeof ROLES)[number];

export interface SignedMetadata {
  readonly signed: { [key: string]: Json };
  readonly signatures: Array<{ keyid: string; sig: string }>;
}

export function signMetadata(signed: { [key: string]: Json }, keys: readonly TufKey[]): SignedMetadata {
  const bytes = Buffer.from(canonicalJson(signed), 'utf8');
  return {
    signed,
    signatures: keys.map((k) => ({ keyid: k.id, sig: sign(null, bytes, k.privateKey).toString('hex') })),
  };
}

const serialize = (m: SignedMetadata): Buffer => Buffer.from(`${JSON.stringify(m, null, 1)}\n`, 'utf8');

const inDays = (days: number): string =>
  new Date(Date.now() + days * 86_400_000).toISOString().replace(/\.\d{3}Z$/, 'Z');

export interface PublishOptions {
  /** Bytes served at the target's URL instead of the published ones (a tampered mirror). */
  readonly serveInstead?: Readonly<Record<string, Buffer>>;
  /** Expiry of the new timestamp (default in 7 days). */
  readonly timestampExpires?: string;
}

export interface TufRepo {
  /** Base URL, e.g. http://127.0.0.1:4321 (no trailing slash). */
  readonly url: string;
  /** A file holding the first root.json: the client's initial trust. */
  readonly rootPath: string;
  readonly rootVersion: () => number;
  /** Every request path, in order. */
  readonly requests: string[];
  /** Publish a new set of targets (targets, snapshot and timestamp versions all move forward). */
  publish(targets: Readonly<Record<string, Buffer>>, options?: PublishOptions): void;
  /** Rotate the root (new root key), signed by both the old and the new root keys, as TUF requires. */
  rotateRoot(): void;
  /** Replace what a path returns (status and body), e.g. garbage for timestamp.json. */
  override(path: string, response: { status: number; body: Buffer | string } | undefined): void;
  close(): Promise<void>;
}

export async function startTufRepo(options: { rootVersion?: number } = {}): Promise<TufRepo> {
  const dir = mkdtempSync(join(tmpdir(), 'portcullis-tuf-repo-'));
  const keys: Record<Role, TufKey> = {
    root: generateTufKey(),
    targets: generateTufKey(),
    snapshot: generateTufKey(),
    timestamp: generateTufKey(),
  };
  const files = new Map<string, Buffer>();
  const overrides = new Map<string, { status: number; body: Buffer | string }>();
  const requests: string[] = [];
  let rootVersion = options.rootVersion ?? 1;
  let targetsVersion = 0;
  let snapshotVersion = 0;
  let timestampVersion = 0;

  const rootSigned = (): { [key: string]: Json } => ({
    _type: 'root',
    spec_version: '1.0',
    version: rootVersion,
    expires: inDays(365),
    consistent_snapshot: true,
    keys: Object.fromEntries(ROLES.map((r) => [keys[r].id, keys[r].json])),
    roles: Object.fromEntries(ROLES.map((r) => [r, { keyids: [keys[r].id], threshold: 1 }])),
  });

  const firstRoot = serialize(signMetadata(rootSigned(), [keys.root]));
  files.set(`/${rootVersion}.root.json`, firstRoot);
  const rootPath = join(dir, 'root.json');
  writeFileSync(rootPath, firstRoot);

  const server: Server = createServer((req, res) => {
    const path = new URL(req.url ?? '/', 'http://x').pathname;
    requests.push(path);
    const override = overrides.get(path);
    if (override) {
      res.writeHead(override.status, { 'content-type': 'application/octet-stream' });
      res.end(override.body);
      return;
    }
    const body = files.get(path);
    if (req.method !== 'GET' || !body) {
      res.writeHead(404).end();
      return;
    }
    res.writeHead(200, { 'content-type': 'application/octet-stream', 'content-length': body.length });
    res.end(body);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const address = server.address();
  if (!address || typeof address === 'string') throw new Error('TUF repo server has no port');

  return {
    url: `http://127.0.0.1:${address.port}`,
    rootPath,
    rootVersion: () => rootVersion,
    requests,
    publish(targets, publishOptions = {}) {
      targetsVersion += 1;
      snapshotVersion += 1;
      timestampVersion += 1;
      const entries: { [key: string]: Json } = {};
      for (const [name, bytes] of Object.entries(targets)) {
        const sha256 = createHash('sha256').update(bytes).digest('hex');
        const sha512 = createHash('sha512').update(bytes).digest('hex');
        entries[name] = { length: bytes.length, hashes: { sha256, sha512 } };
        files.set(`/targets/${sha256}.${name}`, publishOptions.serveInstead?.[name] ?? bytes);
      }
      const expires = inDays(30);
      files.set(
        `/${targetsVersion}.targets.json`,
        serialize(
          signMetadata(
            { _type: 'targets', spec_version: '1.0', version: targetsVersion, expires, targets: entries },
            [keys.targets],
          ),
        ),
      );
      files.set(
        `/${snapshotVersion}.snapshot.json`,
        serialize(
          signMetadata(
            {
              _type: 'snapshot',
              spec_version: '1.0',
              version: snapshotVersion,
              expires,
              meta: { 'targets.json': { version: targetsVersion } },
            },
            [keys.snapshot],
          ),
        ),
      );
      files.set(
        '/timestamp.json',
        serialize(
          signMetadata(
            {
              _type: 'timestamp',
              spec_version: '1.0',
              version: timestampVersion,
              expires: publishOptions.timestampExpires ?? inDays(7),
              meta: { 'snapshot.json': { version: snapshotVersion } },
            },
            [keys.timestamp],
          ),
        ),
      );
    },
    rotateRoot() {
      const oldRootKey = keys.root;
      keys.root = generateTufKey();
      rootVersion += 1;
      files.set(`/${rootVersion}.root.json`, serialize(signMetadata(rootSigned(), [oldRootKey, keys.root])));
    },
    override(path, response) {
      if (response) overrides.set(path, response);
      else overrides.delete(path);
    },
    async close() {
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
      rmSync(dir, { recursive: true, force: true });
    },
  };
}
