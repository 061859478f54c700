/**
 * What a Rekor entry body says signed: the verifier (public key or certificate) of each supported
 * kind. @sigstore/verify compares the body's signature and digest with the bundle, but not the key;
 * an entry made by another key over the same signature bytes would pass (GHSA-whqx-f9j3-ch6m), so
 * the verifiers compare this with the signing key.
 */
import { X509Certificate } from '@sigstore/core';
import { SigstoreError } from '../errors.ts';
import { isObject } from '../json.ts';

export interface TlogBodyVerifier {
  readonly kind: string;
  readonly version: string;
  /** SPKI DER of the key that the entry says signed. */
  readonly spki: Buffer;
  /** DER of the certificate when the entry holds one. */
  readonly certificate?: Buffer;
}

const get = (o: unknown, ...path: string[]): unknown =>
  path.reduce<unknown>((cur, k) => (isObject(cur) ? cur[k] : undefined), o);

export function tlogBodyVerifier(canonicalizedBody: Buffer, where: string): TlogBodyVerifier {
  let body: unknown;
  try {
    body = JSON.parse(canonicalizedBody.toString('utf8'));
  } catch {
    throw new SigstoreError('TLOG_INVALID', `${where}: body is not JSON`);
  }
  const kind = get(body, 'kind');
  const version = get(body, 'apiVersion');
  if (typeof kind !== 'string' || typeof version !== 'string') {
    throw new SigstoreError('TLOG_INVALID', `${where}: body has no kind/apiVersion`);
  }
  const spec = get(body, 'spec');
  const id = `${kind} ${version}`;
  let material: { pem?: unknown; der?: unknown; derIsCert?: boolean };
  switch (id) {
    case 'hashedrekord 0.0.1':
      material = { pem: get(spec, 'signature', 'publicKey', 'content') };
      break;
    case 'dsse 0.0.1': {
      const sigs = get(spec, 'signatures');
      if (!Array.isArray(sigs) || sigs.length !== 1) {
        throw new SigstoreError('TLOG_INVALID', `${where}: dsse entry must hold exactly one signature`);
      }
      material = { pem: get(sigs[0], 'verifier') };
      break;
    }
    case 'intoto 0.0.2': {
      const sigs = get(spec, 'content', 'envelope', 'signatures');
      if (!Array.isArray(sigs) || sigs.length !== 1) {
        throw new SigstoreError('TLOG_INVALID', `${where}: intoto entry must hold exactly one signature`);
      }
      material = { pem: get(sigs[0], 'publicKey') };
      break;
    }
    case 'hashedrekord 0.0.2':
    case 'dsse 0.0.2': {
      const v2 =
        kind === 'hashedrekord'
          ? get(spec, 'hashedRekordV002', 'signature', 'verifier')
          : (() => {
              const sigs = get(spec, 'dsseV002', 'signatures');
              if (!Array.isArray(sigs) || sigs.length !== 1) {
                throw new SigstoreError(
                  'TLOG_INVALID',
                  `${where}: dsse entry must hold exactly one signature`,
                );
              }
              return get(sigs[0], 'verifier');
            })();
      const cert = get(v2, 'x509Certificate', 'rawBytes');
      material =
        cert !== undefined ? { der: cert, derIsCert: true } : { der: get(v2, 'publicKey', 'rawBytes') };
      break;
    }
    default:
      throw new SigstoreError('UNSUPPORTED', `${where}: unsupported Rekor entry kind ${id}`);
  }
  if (material.pem !== undefined) {
    if (typeof material.pem !== 'string')
      throw new SigstoreError('TLOG_INVALID', `${where}: body verifier is not base64`);
    return fromPem(Buffer.from(material.pem, 'base64').toString('utf8'), kind, version, where);
  }
  if (typeof material.der !== 'string')
    throw new SigstoreError('TLOG_INVALID', `${where}: body has no verifier key`);
  const der = Buffer.from(material.der, 'base64');
  return material.derIsCert ? fromCertificate(der, kind, version, where) : { kind, version, spki: der };
}

function fromPem(pem: string, kind: string, version: string, where: string): TlogBodyVerifier {
  const m = /-----BEGIN ([A-Z ]+)-----([A-Za-z0-9+/=\s]+)-----END \1-----/.exec(pem);
  if (!m) throw new SigstoreError('TLOG_INVALID', `${where}: body verifier is not PEM`);
  const der = Buffer.from((m[2] as string).replace(/\s+/g, ''), 'base64');
  if (m[1] === 'CERTIFICATE') return fromCertificate(der, kind, version, where);
  if (m[1] === 'PUBLIC KEY') return { kind, version, spki: der };
  throw new SigstoreError('TLOG_INVALID', `${where}: body verifier is a PEM ${m[1]}`);
}

function fromCertificate(der: Buffer, kind: string, version: string, where: string): TlogBodyVerifier {
  try {
    const cert = X509Certificate.parse(Buffer.from(der));
    return { kind, version, spki: Buffer.from(cert.publicKey), certificate: der };
  } catch {
    throw new SigstoreError('TLOG_INVALID', `${where}: body certificate does not parse`);
  }
}
