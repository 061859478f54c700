/** Shared by the attributes and baseImage tests: policies from YAML text, decisions against a real registry. */
import assert from 'node:assert/strict';
import { createDecider } from '../../src/app/decide.ts';
import type { Decision } from '../../src/engine/decision.ts';
import { loadPolicySet } from '../../src/policy/load.ts';
import type { PolicySet } from '../../src/policy/model.ts';
import { createRegistryClient, type RegistryClientOptions } from '../../src/registry/client.ts';

/** The decision time every test uses (content ages are relative to it). */
export const NOW = new Date('2026-11-27T12:00:00Z');

/** A policy set of one ImagePolicy over every image, with `rules` written as YAML (indented 4). */
export function policyWith(rules: string): PolicySet {
  const text = `apiVersion: portcullis.dev/v1alpha1
kind: ImagePolicy
metadata:
  name: content
spec:
  images:
    - glob: '**'
  rules:
${rules}`;
  const loaded = loadPolicySet([{ path: 'test.yaml', text }]);
  assert.ok(loaded.ok, JSON.stringify(loaded, null, 1));
  return loaded.policySet;
}

export interface DecideOptions extends RegistryClientOptions {
  readonly as?: string;
  readonly offline?: boolean;
  readonly at?: Date;
}

export async function decideWith(
  set: PolicySet,
  image: string,
  hosts: readonly string[],
  options: DecideOptions = {},
): Promise<Decision> {
  const { as, offline, at, ...client } = options;
  const registry = createRegistryClient({ insecureRegistries: [...hosts], ...client });
  try {
    const decider = createDecider(set, {
      offline: offline === true,
      registry,
      timeoutMs: 20_000,
      now: () => at ?? NOW,
    });
    return await decider.decide(image, as ? { as } : {});
  } finally {
    await registry.close();
  }
}

/** The reason of the only rule of the only policy. */
export function reasonOf(d: Decision): string {
  const rule = d.policies[0]?.rules[0];
  assert.ok(rule, JSON.stringify(d, null, 1));
  return rule.reason;
}

export function denied(d: Decision, reason: RegExp): void {
  assert.equal(d.outcome, 'deny', JSON.stringify(d, null, 1));
  assert.match(reasonOf(d), reason);
}

export function allowed(d: Decision, reason?: RegExp): void {
  assert.equal(d.outcome, 'allow', JSON.stringify(d, null, 1));
  if (reason) assert.match(reasonOf(d), reason);
}
