/**
 * `registries`: where an image may come from, by registry host.
 *
 * Host patterns are deliberately not globs: an entry is an exact `host[:port]` or `*.domain[:port]`
 * (any subdomain, at any depth, never the domain itself). A port is part of the host, so
 * `registry.acme.example` does not admit `registry.acme.example:5000`.
 */
import type { ImageFacts } from '../engine/facts.ts';
import type { RuleOutcome } from '../engine/outcome.ts';
import type { RegistriesRule, StringPattern } from '../policy/model.ts';
import { compileHostPattern, foldDockerHub } from '../reference/index.ts';
import {
  compileAllowDeny,
  compileStringPatterns,
  isOutcome,
  judgeAllowDeny,
  requireReference,
  stringList,
  warnDuplicates,
} from './support.ts';
import type { CompileContext, RuleKindDefinition } from './types.ts';

/**
 * Only a leading `*.` is accepted, never a `*` elsewhere: `ghcr.io*` would also admit
 * `ghcr.io.attacker.example`. The schema's pattern for registry entries is the same expression
 * (test/policy/schema.test.ts checks).
 */
export const HOST_PATTERN =
  /^((\*\.)?[A-Za-z0-9]([-A-Za-z0-9]*[A-Za-z0-9])?(\.[A-Za-z0-9]([-A-Za-z0-9]*[A-Za-z0-9])?)*|\[[0-9A-Fa-f:.]+\])(:[0-9]{1,5})?$/;

/** Used to compare entries: hosts are case-insensitive and Docker Hub has several names. */
export function normalizeHost(pattern: string): string {
  return foldDockerHub(pattern.toLowerCase());
}

function compileList(ctx: CompileContext, raw: Record<string, unknown>, key: 'allow' | 'deny') {
  const items = stringList(raw, key);
  if (!items) return undefined;
  const out: StringPattern[] = [];
  for (const { value, index } of items) {
    if (!HOST_PATTERN.test(value)) {
      ctx.error([key, index], `invalid registry ${JSON.stringify(value)}`, {
        found: JSON.stringify(value),
        expected:
          'a host[:port] such as ghcr.io or registry.acme.example:5000, or *.domain for its subdomains',
      });
      continue;
    }
    out.push(...compileStringPatterns(ctx, [{ value, index }], key, 'registry', compileHostPattern));
  }
  warnDuplicates(ctx, items, key, normalizeHost);
  return out;
}

function compile(raw: unknown, outer: CompileContext): RegistriesRule | undefined {
  return compileAllowDeny('registries', raw, outer, {
    compileList,
    describe: (v) => `registry ${JSON.stringify(v)}`,
    canon: normalizeHost,
  });
}

function evaluate(rule: RegistriesRule, facts: ImageFacts): RuleOutcome {
  const ref = requireReference(facts);
  if (isOutcome(ref)) return ref;
  const registry = ref.registry;
  return judgeAllowDeny(rule, `registry "${registry}"`, (p) => p.matches(registry));
}

export const registries: RuleKindDefinition<RegistriesRule> = { kind: 'registries', compile, evaluate };
