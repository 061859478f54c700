/**
 * The CustomResourceDefinitions of policies kept in the cluster. `ImagePolicy` is cluster-scoped, so a
 * policy file (kind ImagePolicy, no namespace) can be applied as it is; `NamespacedImagePolicy` applies
 * only in its own namespace and lets a team own its policies through namespaced RBAC. (Not
 * `ClusterImagePolicy`: that is policy-controller's kind, which `kubectl get clusterimagepolicy` would
 * then resolve ambiguously, and which the policy loader refuses with a migration hint.)
 */
import { crdSpecSchema, policySchema } from '../policy/schema.ts';
import { structuralProblems, toStructural } from './structural.ts';
import type { KubeObject } from './objects.ts';
import { labels } from './objects.ts';

export const POLICY_GROUP = 'portcullis.dev';
export const POLICY_VERSION = 'v1alpha1';

export interface PolicyResource {
  readonly kind: string;
  readonly plural: string;
  readonly singular: string;
  readonly scope: 'Cluster' | 'Namespaced';
  readonly shortNames: readonly string[];
}

export const POLICY_RESOURCES: readonly PolicyResource[] = [
  {
    kind: 'ImagePolicy',
    plural: 'imagepolicies',
    singular: 'imagepolicy',
    scope: 'Cluster',
    shortNames: ['ipol'],
  },
  {
    kind: 'NamespacedImagePolicy',
    plural: 'namespacedimagepolicies',
    singular: 'namespacedimagepolicy',
    scope: 'Namespaced',
    shortNames: ['nsipol'],
  },
];

export class CrdSchemaError extends Error {
  readonly code = 'CRD_SCHEMA';
  constructor(problems: readonly string[]) {
    super(`the policy schema does not make a structural CRD schema:\n  ${problems.join('\n  ')}`);
    this.name = 'CrdSchemaError';
  }
}

/** The whole object's openAPIV3Schema: the policy `spec`, plus what every Kubernetes object has. */
export function policyOpenApiSchema(): Record<string, unknown> {
  const spec = toStructural(crdSpecSchema(), policySchema as Record<string, unknown>);
  const schema = {
    type: 'object',
    description: 'A Portcullis image policy (docs/policy-language.md).',
    required: ['spec'],
    properties: {
      apiVersion: { type: 'string' },
      kind: { type: 'string' },
      metadata: { type: 'object' },
      spec: spec,
    },
  };
  const problems = structuralProblems(schema);
  if (problems.length > 0) throw new CrdSchemaError(problems);
  return schema;
}

export function policyCrds(): KubeObject[] {
  const schema = policyOpenApiSchema();
  return POLICY_RESOURCES.map((r) => ({
    apiVersion: 'apiextensions.k8s.io/v1',
    kind: 'CustomResourceDefinition',
    metadata: { name: `${r.plural}.${POLICY_GROUP}`, labels: labels('policy') },
    spec: {
      group: POLICY_GROUP,
      scope: r.scope,
      names: {
        kind: r.kind,
        listKind: `${r.kind}List`,
        plural: r.plural,
        singular: r.singular,
        shortNames: [...r.shortNames],
        categories: ['portcullis'],
      },
      versions: [
        {
          name: POLICY_VERSION,
          served: true,
          storage: true,
          schema: { openAPIV3Schema: structuredClone(schema) },
          additionalPrinterColumns: [
            { name: 'Mode', type: 'string', jsonPath: '.spec.mode' },
            { name: 'Age', type: 'date', jsonPath: '.metadata.creationTimestamp' },
          ],
        },
      ],
    },
  }));
}
