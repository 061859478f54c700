/**
 * The webhook's serving certificate, from a private CA made at install time. The API server trusts the
 * CA through the webhook configurations' `caBundle`; the CA's private key is thrown away once the leaf
 * is signed, so nothing left in the cluster can issue another certificate it would trust. Rotation is
 * running `portcullis install` again (or cert-manager, which renews by itself).
 */
import { createHash, generateKeyPairSync, randomBytes, sign, type KeyObject } from 'node:crypto';
import {
  bitString,
  boolean,
  explicit,
  implicitPrimitive,
  objectIdentifier,
  octetString,
  sequence,
  set,
  smallInteger,
  time,
  unsignedInteger,
  utf8String,
} from './der.ts';

export interface WebhookCertificates {
  /** PEM of the self-signed CA: the `caBundle`. */
  readonly caPem: string;
  /** PEM of the serving certificate (tls.crt). */
  readonly certPem: string;
  /** PEM (PKCS#8) of the serving key (tls.key). */
  readonly keyPem: string;
  readonly notAfter: Date;
}

export interface CertificateRequest {
  readonly service: string;
  readonly namespace: string;
  readonly now?: Date;
  /** Validity of the serving certificate; the CA lives one day longer. */
  readonly validityDays?: number;
}

export const DEFAULT_VALIDITY_DAYS = 730;
/** Tolerates nodes whose clocks run a little behind the machine `install` ran on. */
const BACKDATE_MS = 5 * 60 * 1000;
const DAY_MS = 24 * 60 * 60 * 1000;

const OID = {
  commonName: '2.5.4.3',
  organization: '2.5.4.10',
  ecdsaWithSha256: '1.2.840.10045.4.3.2',
  basicConstraints: '2.5.29.19',
  keyUsage: '2.5.29.15',
  subjectKeyId: '2.5.29.14',
  authorityKeyId: '2.5.29.35',
  extKeyUsage: '2.5.29.37',
  subjectAltName: '2.5.29.17',
  serverAuth: '1.3.6.1.5.5.7.3.1',
};

/** The DNS names the API server may use for the Service: it dials `<service>.<namespace>.svc`. */
export function serviceDnsNames(service: string, namespace: string): string[] {
  return [
    `${service}.${namespace}.svc`,
    `${service}.${namespace}.svc.cluster.local`,
    `${service}.${namespace}`,
    service,
  ];
}

const distinguishedName = (cn: string): Buffer =>
  sequence(
    set(sequence(objectIdentifier(OID.organization), utf8String('portcullis'))),
    set(sequence(objectIdentifier(OID.commonName), utf8String(cn))),
  );

const extension = (id: string, value: Buffer, critical: boolean): Buffer =>
  sequence(objectIdentifier(id), ...(critical ? [boolean(true)] : []), octetString(value));

const keyId = (spki: Buffer): Buffer => createHash('sha1').update(spki).digest();

interface Signed {
  readonly der: Buffer;
  readonly spki: Buffer;
}

function certificate(o: {
  subject: string;
  issuer: string;
  subjectKey: KeyObject;
  issuerKey: KeyObject;
  issuerSpki: Buffer;
  notBefore: Date;
  notAfter: Date;
  extensions: Buffer[];
}): Signed {
  const spki = o.subjectKey.export({ format: 'der', type: 'spki' });
  // 16 random bytes with the top bit cleared: positive, unique, at most 20 octets (RFC 5280 §4.1.2.2).
  const serial = randomBytes(16);
  serial[0] = (serial[0] as number) & 0x7f;
  const algorithm = sequence(objectIdentifier(OID.ecdsaWithSha256));
  const tbs = sequence(
    explicit(0, smallInteger(2)),
    unsignedInteger(serial),
    algorithm,
    distinguishedName(o.issuer),
    sequence(time(o.notBefore), time(o.notAfter)),
    distinguishedName(o.subject),
    spki,
    explicit(
      3,
      sequence(
        ...o.extensions,
        extension(OID.subjectKeyId, octetString(keyId(spki)), false),
        extension(OID.authorityKeyId, sequence(implicitPrimitive(0, keyId(o.issuerSpki))), false),
      ),
    ),
  );
  const signature = sign('sha256', tbs, o.issuerKey);
  return { der: sequence(tbs, algorithm, bitString(signature)), spki };
}

export const toPem = (der: Buffer): string =>
  `-----BEGIN CERTIFICATE-----\n${der
    .toString('base64')
    .replace(/(.{64})/g, '$1\n')
    .replace(/\n$/, '')}\n-----END CERTIFICATE-----\n`;

export function generateWebhookCertificates(request: CertificateRequest): WebhookCertificates {
  const validityDays = request.validityDays ?? DEFAULT_VALIDITY_DAYS;
  const now = request.now ?? new Date();
  const notBefore = new Date(Math.floor((now.getTime() - BACKDATE_MS) / 1000) * 1000);
  const notAfter = new Date(notBefore.getTime() + validityDays * DAY_MS);
  const names = serviceDnsNames(request.service, request.namespace);

  const ca = generateKeyPairSync('ec', { namedCurve: 'P-256' });
  const caSpki = ca.publicKey.export({ format: 'der', type: 'spki' });
  const caName = `portcullis webhook CA (${request.namespace})`;
  const caCert = certificate({
    subject: caName,
    issuer: caName,
    subjectKey: ca.publicKey,
    issuerKey: ca.privateKey,
    issuerSpki: caSpki,
    notBefore,
    notAfter: new Date(notAfter.getTime() + DAY_MS),
    extensions: [
      // CA:TRUE, pathLen 0: it signs this one serving certificate and no other CA.
      extension(OID.basicConstraints, sequence(boolean(true), smallInteger(0)), true),
      // keyCertSign (bit 5) and cRLSign (bit 6).
      extension(OID.keyUsage, bitString(Buffer.from([0x06]), 1), true),
    ],
  });

  const leaf = generateKeyPairSync('ec', { namedCurve: 'P-256' });
  const leafCert = certificate({
    subject: names[0] as string,
    issuer: caName,
    subjectKey: leaf.publicKey,
    issuerKey: ca.privateKey,
    issuerSpki: caSpki,
    notBefore,
    notAfter,
    extensions: [
      extension(OID.basicConstraints, sequence(), true),
      // digitalSignature (bit 0): ECDHE handshakes sign with the key.
      extension(OID.keyUsage, bitString(Buffer.from([0x80]), 7), true),
      extension(OID.extKeyUsage, sequence(objectIdentifier(OID.serverAuth)), false),
      extension(
        OID.subjectAltName,
        sequence(...names.map((n) => implicitPrimitive(2, Buffer.from(n, 'ascii')))),
        false,
      ),
    ],
  });

  return {
    caPem: toPem(caCert.der),
    certPem: toPem(leafCert.der),
    keyPem: leaf.privateKey.export({ format: 'pem', type: 'pkcs8' }) as string,
    notAfter,
  };
}
