/**
 * Signature verification over a digest the caller already has (an image digest, `sha256:HEX` in
 * verify-bundle) instead of the message bytes. Node's crypto cannot verify an ECDSA or RSA signature
 * over a precomputed hash, so ECDSA (NIST P-256/384/521) is done here with BigInt arithmetic, and
 * RSA PKCS#1 v1.5 by recovering the DigestInfo with the public key. Ed25519 signs the message itself,
 * so it cannot be verified from a digest.
 *
 * Only public data is involved (verification), so BigInt's lack of constant time does not matter.
 */
import { constants, publicDecrypt, type KeyObject } from 'node:crypto';
import type { HashAlgorithmName } from '../authority.ts';

interface Curve {
  readonly p: bigint;
  readonly n: bigint;
  readonly b: bigint;
  readonly gx: bigint;
  readonly gy: bigint;
  readonly bits: number;
}

const CURVES: Readonly<Record<string, Curve>> = {
  prime256v1: {
    p: 0xffffffff00000001000000000000000000000000ffffffffffffffffffffffffn,
    n: 0xffffffff00000000ffffffffffffffffbce6faada7179e84f3b9cac2fc632551n,
    b: 0x5ac635d8aa3a93e7b3ebbd55769886bc651d06b0cc53b0f63bce3c3e27d2604bn,
    gx: 0x6b17d1f2e12c4247f8bce6e563a440f277037d812deb33a0f4a13945d898c296n,
    gy: 0x4fe342e2fe1a7f9b8ee7eb4a7c0f9e162bce33576b315ececbb6406837bf51f5n,
    bits: 256,
  },
  secp384r1: {
    p: 0xfffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffeffffffff0000000000000000ffffffffn,
    n: 0xffffffffffffffffffffffffffffffffffffffffffffffffc7634d81f4372ddf581a0db248b0a77aecec196accc52973n,
    b: 0xb3312fa7e23ee7e4988e056be3f82d19181d9c6efe8141120314088f5013875ac656398d8a2ed19d2a85c8edd3ec2aefn,
    gx: 0xaa87ca22be8b05378eb1c71ef320ad746e1d3b628ba79b9859f741e082542a385502f25dbf55296c3a545e3872760ab7n,
    gy: 0x3617de4a96262c6f5d9e98bf9292dc29f8f41dbd289a147ce9da3113b5f0b8c00a60b1ce1d7e819d7a431d7c90ea0e5fn,
    bits: 384,
  },
  secp521r1: {
    p: (1n << 521n) - 1n,
    n: 0x01fffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffa51868783bf2f966b7fcc0148f709a5d03bb5c9b8899c47aebb6fb71e91386409n,
    b: 0x0051953eb9618e1c9a1f929a21a0b68540eea2da725b99b315f3b8b489918ef109e156193951ec7e937b1652c0bd3bb1bf073573df883d2c34f1ef451fd46b503f00n,
    gx: 0x00c6858e06b70404e9cd9e3ecb662395b4429c648139053fb521f828af606b4d3dbaa14b5e77efe75928fe1dc127a2ffa8de3348b3c1856a429bf97e7e31c2e5bd66n,
    gy: 0x011839296a789a3bc0045c8a5fb42c7d1bd998f54449579b446817afbd17273e662c97ee72995ef42640c550b9013fad0761353c7086a272c24088be94769fd16650n,
    bits: 521,
  },
};

/** Jacobian coordinates (x = X/Z², y = Y/Z³): one modular inversion per verification instead of one per step. */
type Point = { readonly X: bigint; readonly Y: bigint; readonly Z: bigint };
const INFINITY: Point = { X: 1n, Y: 1n, Z: 0n };

const mod = (a: bigint, m: bigint): bigint => {
  const r = a % m;
  return r >= 0n ? r : r + m;
};

function inverse(a: bigint, m: bigint): bigint {
  let [r0, r1] = [mod(a, m), m];
  let [s0, s1] = [1n, 0n];
  while (r1 !== 0n) {
    const q = r0 / r1;
    [r0, r1] = [r1, r0 - q * r1];
    [s0, s1] = [s1, s0 - q * s1];
  }
  if (r0 !== 1n) throw new Error('not invertible');
  return mod(s0, m);
}

/** dbl-2001-b, valid for a = -3 (all NIST prime curves). */
function double(c: Curve, P: Point): Point {
  if (P.Z === 0n || P.Y === 0n) return INFINITY;
  const p = c.p;
  const delta = mod(P.Z * P.Z, p);
  const gamma = mod(P.Y * P.Y, p);
  const beta = mod(P.X * gamma, p);
  const alpha = mod(3n * (P.X - delta) * (P.X + delta), p);
  const X = mod(alpha * alpha - 8n * beta, p);
  const Z = mod((P.Y + P.Z) * (P.Y + P.Z) - gamma - delta, p);
  const Y = mod(alpha * (4n * beta - X) - 8n * gamma * gamma, p);
  return { X, Y, Z };
}

function add(c: Curve, P: Point, Q: Point): Point {
  if (P.Z === 0n) return Q;
  if (Q.Z === 0n) return P;
  const p = c.p;
  const z1z1 = mod(P.Z * P.Z, p);
  const z2z2 = mod(Q.Z * Q.Z, p);
  const u1 = mod(P.X * z2z2, p);
  const u2 = mod(Q.X * z1z1, p);
  const s1 = mod(P.Y * Q.Z * z2z2, p);
  const s2 = mod(Q.Y * P.Z * z1z1, p);
  const h = mod(u2 - u1, p);
  const r = mod(s2 - s1, p);
  if (h === 0n) return r === 0n ? double(c, P) : INFINITY;
  const hh = mod(h * h, p);
  const hhh = mod(h * hh, p);
  const v = mod(u1 * hh, p);
  const X = mod(r * r - hhh - 2n * v, p);
  const Y = mod(r * (v - X) - s1 * hhh, p);
  const Z = mod(P.Z * Q.Z * h, p);
  return { X, Y, Z };
}

/** u1·G + u2·Q in one pass (Shamir's trick). */
function linearCombination(c: Curve, u1: bigint, G: Point, u2: bigint, Q: Point): Point {
  const GQ = add(c, G, Q);
  let R = INFINITY;
  const bits = Math.max(u1.toString(2).length, u2.toString(2).length);
  for (let i = bits - 1; i >= 0; i--) {
    R = double(c, R);
    const b1 = (u1 >> BigInt(i)) & 1n;
    const b2 = (u2 >> BigInt(i)) & 1n;
    if (b1 && b2) R = add(c, R, GQ);
    else if (b1) R = add(c, R, G);
    else if (b2) R = add(c, R, Q);
  }
  return R;
}

function affineX(c: Curve, P: Point): bigint | undefined {
  if (P.Z === 0n) return undefined;
  const zInv = inverse(P.Z, c.p);
  return mod(P.X * zInv * zInv, c.p);
}

function onCurve(c: Curve, x: bigint, y: bigint): boolean {
  if (x < 0n || x >= c.p || y < 0n || y >= c.p) return false;
  return mod(y * y - (x * x * x - 3n * x + c.b), c.p) === 0n;
}

const toBigInt = (b: Uint8Array): bigint =>
  b.length === 0 ? 0n : BigInt(`0x${Buffer.from(b).toString('hex')}`);

/** Parse a DER ECDSA-Sig-Value (SEQUENCE { INTEGER r, INTEGER s }) strictly. */
function parseDerSignature(sig: Uint8Array): { r: bigint; s: bigint } | undefined {
  const b = Buffer.from(sig);
  let i = 0;
  const readLen = (): number | undefined => {
    const first = b[i++];
    if (first === undefined) return undefined;
    if (first < 0x80) return first;
    const n = first & 0x7f;
    if (n === 0 || n > 2) return undefined;
    let len = 0;
    for (let k = 0; k < n; k++) {
      const v = b[i++];
      if (v === undefined) return undefined;
      len = len * 256 + v;
    }
    return len;
  };
  if (b[i++] !== 0x30) return undefined;
  const seqLen = readLen();
  if (seqLen === undefined || i + seqLen !== b.length) return undefined;
  const ints: bigint[] = [];
  for (let k = 0; k < 2; k++) {
    if (b[i++] !== 0x02) return undefined;
    const len = readLen();
    if (len === undefined || len === 0 || i + len > b.length) return undefined;
    ints.push(toBigInt(b.subarray(i, i + len)));
    i += len;
  }
  if (i !== b.length) return undefined;
  return { r: ints[0] as bigint, s: ints[1] as bigint };
}

function verifyEcdsaPrehash(key: KeyObject, digest: Uint8Array, signature: Uint8Array): boolean {
  const curve = CURVES[key.asymmetricKeyDetails?.namedCurve ?? ''];
  if (!curve) return false;
  const parsed = parseDerSignature(signature);
  if (!parsed) return false;
  const { r, s } = parsed;
  if (r <= 0n || r >= curve.n || s <= 0n || s >= curve.n) return false;
  const jwk = key.export({ format: 'jwk' });
  if (typeof jwk.x !== 'string' || typeof jwk.y !== 'string') return false;
  const qx = toBigInt(Buffer.from(jwk.x, 'base64url'));
  const qy = toBigInt(Buffer.from(jwk.y, 'base64url'));
  if (!onCurve(curve, qx, qy)) return false;
  let z = toBigInt(digest);
  const excess = digest.length * 8 - curve.bits;
  if (excess > 0) z >>= BigInt(excess);
  const w = inverse(s, curve.n);
  const X = linearCombination(
    curve,
    mod(z * w, curve.n),
    { X: curve.gx, Y: curve.gy, Z: 1n },
    mod(r * w, curve.n),
    { X: qx, Y: qy, Z: 1n },
  );
  const x = affineX(curve, X);
  return x !== undefined && mod(x, curve.n) === r;
}

/** DER DigestInfo prefixes (RFC 8017 §9.2 note 1). */
const DIGEST_INFO: Readonly<Record<HashAlgorithmName, string>> = {
  sha256: '3031300d060960864801650304020105000420',
  sha384: '3041300d060960864801650304020205000430',
  sha512: '3051300d060960864801650304020305000440',
};

function verifyRsaPkcs1Prehash(
  key: KeyObject,
  digest: Uint8Array,
  signature: Uint8Array,
  hash: HashAlgorithmName,
): boolean {
  try {
    const recovered = publicDecrypt({ key, padding: constants.RSA_PKCS1_PADDING }, Buffer.from(signature));
    const expected = Buffer.concat([Buffer.from(DIGEST_INFO[hash], 'hex'), Buffer.from(digest)]);
    return recovered.equals(expected);
  } catch {
    return false;
  }
}

const DIGEST_LENGTH: Readonly<Record<HashAlgorithmName, number>> = { sha256: 32, sha384: 48, sha512: 64 };

/** Verify `signature` over the message whose `hash` digest is `digest`. False on any malformation. */
export function verifyPrehashed(
  key: KeyObject,
  digest: Uint8Array,
  signature: Uint8Array,
  hash: HashAlgorithmName,
): boolean {
  if (digest.length !== DIGEST_LENGTH[hash]) return false;
  switch (key.asymmetricKeyType) {
    case 'ec':
      return verifyEcdsaPrehash(key, digest, signature);
    case 'rsa':
      return verifyRsaPkcs1Prehash(key, digest, signature, hash);
    default:
      return false;
  }
}
