/**
 * The reasons printed as YAML comments: above an object, and above each RBAC rule. Kept beside the
 * objects (not in them) so the JSON output and `kubectl apply` see plain Kubernetes objects.
 */

/** Why each RBAC rule is there; printed as a comment above it in the YAML. */
export const ruleReasons = new WeakMap<object, string>();
/** Printed above an object in the YAML. */
export const objectComments = new WeakMap<object, string>();

export function rule(reason: string, value: Record<string, unknown>): Record<string, unknown> {
  ruleReasons.set(value, reason);
  return value;
}

export function commented<T extends object>(comment: string, value: T): T {
  objectComments.set(value, comment);
  return value;
}
