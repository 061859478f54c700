/** What evaluating one rule against one image produced. */
export interface RuleOutcome {
  readonly verdict: 'pass' | 'fail';
  /** One human sentence: why it passed or failed. Shown to users verbatim. */
  readonly reason: string;
  /** Machine-readable detail behind the reason (kinds that have any; docs/output.md). */
  readonly evidence?: RuleEvidence;
}

export const pass = (reason: string): RuleOutcome => ({ verdict: 'pass', reason });
export const fail = (reason: string): RuleOutcome => ({ verdict: 'fail', reason });

export interface RuleEvidence {
  readonly signatures?: SignaturesEvidence;
  readonly attestations?: readonly AttestationEvidence[];
}

/** What satisfied (or failed) one required attestation. */
export interface AttestationEvidence {
  readonly name: string;
  readonly predicateType: string;
  readonly satisfied: boolean;
  readonly reason: string;
  /** Statements of the type found (before verification), over the sources looked in. */
  readonly found: number;
  /** When satisfied: the statements that did it, one per satisfied authority. */
  readonly statements?: readonly {
    readonly authority: string;
    readonly predicateType: string;
    /** Where it was found, e.g. `registry/repo:sha256-<hex>.att` or `registry/repo@sha256:...`. */
    readonly source: string;
    readonly keyFingerprint: string;
    readonly subject?: string;
    readonly issuer?: string;
  }[];
}

/** What a signatures rule checked, and what satisfied (or failed) each authority. */
export interface SignaturesEvidence {
  readonly digest: string;
  readonly threshold: number;
  readonly satisfiedCount: number;
  /** Signatures considered (after the rule's format filter), over all its sources. */
  readonly candidates: number;
  readonly authorities: readonly AuthorityEvidence[];
}

export interface AuthorityEvidence {
  readonly name: string;
  readonly kind: 'key' | 'keyless' | 'static';
  readonly satisfied: boolean;
  readonly reason: string;
  /** Failure code (e.g. NO_SIGNATURES, IDENTITY_MISMATCH, TLOG_MISSING). */
  readonly code?: string;
  readonly signature?: {
    /** Where the signature was found, e.g. `registry/repo:sha256-<hex>.sig`. */
    readonly source: string;
    /** `sha256:` of the SPKI of the key that verified it. */
    readonly keyFingerprint: string;
    readonly subject?: string;
    readonly issuer?: string;
    readonly tlog: readonly {
      readonly logId: string;
      readonly logIndex: string;
      readonly integratedTime?: string;
    }[];
  };
}
