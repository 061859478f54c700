/**
 * The variables Portcullis proposes for its two kinds of condition. `now` is always declared too.
 * The attestation and image-attribute rules bind them; the shapes are documented in docs/cel.md.
 */
import type { VariableDecl } from './compile.ts';

export const IMAGE_VARIABLES: readonly VariableDecl[] = [
  {
    name: 'image',
    description:
      'the image: {reference, registry, repository, tag, digest, platformDigest, platform, user, labels, annotations, os, architecture, variant, created, layers, layerCount, size}',
  },
  {
    name: 'manifest',
    description: 'the manifest of the platform image being judged (OCI or Docker schema 2 JSON)',
  },
  {
    name: 'config',
    description:
      'the config of the platform image being judged (config.config.User, config.created, config.os, ...)',
  },
];

export const ATTESTATION_VARIABLES: readonly VariableDecl[] = [
  {
    name: 'statement',
    description: 'the verified in-toto Statement (_type, subject, predicateType, predicate)',
  },
  { name: 'predicate', description: 'statement.predicate' },
  {
    name: 'signer',
    description:
      'who signed the attestation: {authority, keyFingerprint, issuer, subject, sans: [{type, value}], signedAt: [RFC 3339]}',
  },
  { name: 'image', description: 'the image: {reference, registry, repository, tag, digest}' },
];
