/**
 * What a Fulcio certificate says about its subject: SANs (URI, email, otherName username), the OIDC
 * issuer, and the other Fulcio extensions (fulcio docs/oid-info.md), decoded the way Fulcio writes them.
 */
import type { ASN1Obj, X509Certificate } from '@sigstore/core';

export const OID_ISSUER_V1 = '1.3.6.1.4.1.57264.1.1';
export const OID_ISSUER_V2 = '1.3.6.1.4.1.57264.1.8';
export const OID_OTHERNAME_USERNAME = '1.3.6.1.4.1.57264.1.7';
export const OID_SUBJECT_ALT_NAME = '2.5.29.17';
export const OID_EXT_KEY_USAGE = '2.5.29.37';
export const OID_CODE_SIGNING = '1.3.6.1.5.5.7.3.3';

/** .1.1 to .1.6 hold raw strings (deprecated); later ones hold a DER UTF8String. */
const RAW_VALUE_OIDS = new Set([1, 2, 3, 4, 5, 6].map((n) => `1.3.6.1.4.1.57264.1.${n}`));

export interface SubjectAlternativeName {
  readonly type: 'uri' | 'email' | 'username' | 'dns';
  readonly value: string;
}

export interface CertificateIdentity {
  readonly sans: readonly SubjectAlternativeName[];
  readonly issuer?: string;
}

/** The DER value inside an extension's extnValue OCTET STRING (parsed by @sigstore/core). */
function inner(ext: { valueObj: { subs: readonly unknown[] } }): ASN1Obj | undefined {
  return ext.valueObj.subs[0] as ASN1Obj | undefined;
}

export function subjectAlternativeNames(cert: X509Certificate): SubjectAlternativeName[] {
  const ext = cert.extension(OID_SUBJECT_ALT_NAME);
  if (!ext) return [];
  const out: SubjectAlternativeName[] = [];
  for (const gn of (inner(ext)?.subs ?? []).slice(0, 64)) {
    if (gn.tag.isContextSpecific(0x06)) out.push({ type: 'uri', value: gn.value.toString('utf8') });
    else if (gn.tag.isContextSpecific(0x01)) out.push({ type: 'email', value: gn.value.toString('utf8') });
    else if (gn.tag.isContextSpecific(0x02)) out.push({ type: 'dns', value: gn.value.toString('utf8') });
    else if (gn.tag.isContextSpecific(0x00)) {
      // otherName ::= SEQUENCE { type-id OID, value [0] EXPLICIT ANY }; Fulcio puts a UTF8String username.
      try {
        if (gn.subs[0]?.toOID() === OID_OTHERNAME_USERNAME) {
          const v = gn.subs[1]?.subs[0]?.value;
          if (v) out.push({ type: 'username', value: v.toString('utf8') });
        }
      } catch {
        // A malformed otherName names nobody.
      }
    }
  }
  return out;
}

/** The decoded value of a Fulcio extension, or undefined when absent or malformed. */
export function extensionValue(cert: X509Certificate, oid: string): string | undefined {
  const ext = cert.extension(oid);
  if (!ext) return undefined;
  try {
    if (RAW_VALUE_OIDS.has(oid)) return ext.value.toString('utf8');
    const obj = inner(ext);
    if (!obj) return undefined;
    // UTF8String (12); some issuers use IA5String (22) or PrintableString (19).
    if (obj.tag.isUniversal() && [12, 19, 22].includes(obj.tag.number)) return obj.value.toString('utf8');
  } catch {
    return undefined;
  }
  return undefined;
}

export function certificateIdentity(cert: X509Certificate): CertificateIdentity {
  const issuer = extensionValue(cert, OID_ISSUER_V2) ?? extensionValue(cert, OID_ISSUER_V1);
  return { sans: subjectAlternativeNames(cert), ...(issuer !== undefined ? { issuer } : {}) };
}

export function extendedKeyUsages(cert: X509Certificate): string[] | undefined {
  const ext = cert.extension(OID_EXT_KEY_USAGE);
  if (!ext) return undefined;
  try {
    return (inner(ext)?.subs ?? []).map((s) => s.toOID());
  } catch {
    return [];
  }
}
