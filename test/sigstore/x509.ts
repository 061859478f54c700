/**
 * A minimal DER / X.509 writer for tests: a private CA (root → intermediate → leaf) shaped like
 * Fulcio's, so keyless verification is exercised end to end without Sigstore's servers.
 */
import { createHash, generateKeyPairSync, sign, type KeyObject } from 'node:crypto';

const len = (n: number): Buffer => {
  if (n < 0x80) return Buffer.from([n]);
  const bytes: number[] = [];
  for (let v = n; v > 0; v >>= 8) bytes.unshift(v & 0xff);
  return Buffer.from([0x80 | bytes.length, ...bytes]);
};
export const tlv = (tag: number, ...content: Buffer[]): Buffer => {
  const body = Buffer.concat(content);
  return Buffer.concat([Buffer.from([tag]), len(body.length), body]);
};
const seq = (...c: Buffer[]) => tlv(0x30, ...c);
const set = (...c: Buffer[]) => tlv(0x31, ...c);
const utf8 = (s: string) => tlv(0x0c, Buffer.from(s, 'utf8'));
const octets = (b: Buffer) => tlv(0x04, b);
const bool = (v: boolean) => tlv(0x01, Buffer.from([v ? 0xff : 0]));
const bitString = (b: Buffer, unused = 0) => tlv(0x03, Buffer.from([unused]), b);
const explicit = (n: number, c: Buffer) => tlv(0xa0 + n, c);

function integer(v: bigint | number): Buffer {
  let hex = BigInt(v).toString(16);
  if (hex.length % 2) hex = `0${hex}`;
  let b = Buffer.from(hex, 'hex');
  if ((b[0] as number) & 0x80) b = Buffer.concat([Buffer.from([0]), b]);
  return tlv(0x02, b);
}

export function oid(dotted: string): Buffer {
  const parts = dotted.split('.').map(Number);
  const out: number[] = [40 * (parts[0] as number) + (parts[1] as number)];
  for (const p of parts.slice(2)) {
    const stack = [p & 0x7f];
    for (let v = p >> 7; v > 0; v >>= 7) stack.unshift(0x80 | (v & 0x7f));
    out.push(...stack);
  }
  return tlv(0x06, Buffer.from(out));
}

function time(d: Date): Buffer {
  const iso = d.toISOString().replace(/[-:T]/g, '').slice(0, 14);
  return d.getUTCFullYear() < 2050
    ? tlv(0x17, Buffer.from(`${iso.slice(2)}Z`))
    : tlv(0x18, Buffer.from(`${iso}Z`));
}

const name = (cn?: string) =>
  cn ? seq(set(seq(oid('2.5.4.10'), utf8('portcullis.test'))), set(seq(oid('2.5.4.3'), utf8(cn)))) : seq();
const ext = (id: string, value: Buffer, critical = false) =>
  seq(oid(id), ...(critical ? [bool(true)] : []), octets(value));
const ECDSA_SHA256 = seq(oid('1.2.840.10045.4.3.2'));

export interface Issued {
  readonly der: Buffer;
  readonly privateKey: KeyObject;
  readonly publicKey: KeyObject;
  readonly subject: string | undefined;
  readonly ski: Buffer;
  /** The TBSCertificate DER (what the issuer signed). */
  readonly tbs: Buffer;
}

export type San = { email: string } | { uri: string } | { username: string };

export interface CertOptions {
  readonly subject?: string;
  readonly issuer?: Issued;
  readonly notBefore: Date;
  readonly notAfter: Date;
  readonly ca?: boolean;
  readonly sans?: readonly San[];
  /** Dotted OID → value, written as Fulcio does (DER UTF8String; raw bytes for .1.1–.1.6). */
  readonly extensions?: Readonly<Record<string, string>>;
  /** Default: code signing for leaves, none for CAs. */
  readonly eku?: readonly string[];
  readonly keyPair?: { privateKey: KeyObject; publicKey: KeyObject };
  /**
   * Embedded SCTs (RFC 6962 §3.3): given the precertificate TBS (this certificate's TBS without the SCT
   * list extension) and the issuer's SPKI DER, returns the TLS-encoded SignedCertificateTimestampList,
   * written as the last extension (1.3.6.1.4.1.11129.2.4.2). Absent: no SCT extension.
   */
  readonly sctList?: (precertTbs: Buffer, issuerSpki: Buffer) => Buffer;
}

export const OID_SCT_LIST = '1.3.6.1.4.1.11129.2.4.2';

let serial = 1000n;

export function issue(o: CertOptions): Issued {
  const { privateKey, publicKey } = o.keyPair ?? generateKeyPairSync('ec', { namedCurve: 'P-256' });
  const spki = publicKey.export({ format: 'der', type: 'spki' });
  const ski = createHash('sha1').update(spki).digest();
  const exts: Buffer[] = [];
  exts.push(ext('2.5.29.19', o.ca ? seq(bool(true)) : seq(), true));
  exts.push(
    ext('2.5.29.15', o.ca ? bitString(Buffer.from([0x06]), 1) : bitString(Buffer.from([0x80]), 7), true),
  );
  exts.push(ext('2.5.29.14', octets(ski)));
  if (o.issuer) exts.push(ext('2.5.29.35', seq(tlv(0x80, o.issuer.ski))));
  const eku = o.eku ?? (o.ca ? [] : ['1.3.6.1.5.5.7.3.3']);
  if (eku.length) exts.push(ext('2.5.29.37', seq(...eku.map(oid))));
  if (o.sans?.length) {
    const names = o.sans.map((s) =>
      'email' in s
        ? tlv(0x81, Buffer.from(s.email))
        : 'uri' in s
          ? tlv(0x86, Buffer.from(s.uri))
          : tlv(0xa0, oid('1.3.6.1.4.1.57264.1.7'), explicit(0, utf8(s.username))),
    );
    exts.push(ext('2.5.29.17', seq(...names), true));
  }
  for (const [id, value] of Object.entries(o.extensions ?? {})) {
    const raw = /^1\.3\.6\.1\.4\.1\.57264\.1\.[1-6]$/.test(id);
    exts.push(ext(id, raw ? Buffer.from(value) : utf8(value)));
  }
  const number = serial++;
  const tbsOf = (extensions: Buffer[]) =>
    seq(
      explicit(0, integer(2)),
      integer(number),
      ECDSA_SHA256,
      name(o.issuer ? o.issuer.subject : o.subject),
      seq(time(o.notBefore), time(o.notAfter)),
      name(o.subject),
      spki,
      explicit(3, seq(...extensions)),
    );
  let tbs = tbsOf(exts);
  if (o.sctList) {
    const issuerSpki = (o.issuer?.publicKey ?? publicKey).export({ format: 'der', type: 'spki' });
    tbs = tbsOf([...exts, ext(OID_SCT_LIST, octets(o.sctList(tbs, issuerSpki)))]);
  }
  const signer = o.issuer?.privateKey ?? privateKey;
  const der = seq(tbs, ECDSA_SHA256, bitString(sign('sha256', tbs, signer)));
  return { der, privateKey, publicKey, subject: o.subject, ski, tbs };
}

export const toPem = (der: Buffer): string =>
  `-----BEGIN CERTIFICATE-----\n${der.toString('base64').replace(/(.{64})/g, '$1\n')}\n-----END CERTIFICATE-----\n`;
