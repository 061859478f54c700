/**
 * Deciding a request's images under one internal deadline. The API server gives up on the webhook after
 * `timeoutSeconds` and then applies `failurePolicy`; Portcullis answers first, with a denial that says
 * what was not finished, so the outcome never depends on the cluster's failure policy.
 */
import type { DecideRequest, ImageDecider } from '../app/decide.ts';
import type { Decision } from '../engine/decision.ts';
import type { PolicySet } from '../policy/model.ts';
import type { RegistryClient } from '../registry/client.ts';

/** What one admission request decides with beyond the policies: its namespace and registry client. */
export interface RequestScope {
  readonly namespace?: string;
  /** A client holding the workload's pull-secret credentials; absent: the static one. */
  readonly registry?: RegistryClient;
}

/** What decides, swapped whole when policies are reloaded: a request uses the one it started with. */
export interface Engine {
  readonly decider: ImageDecider;
  readonly policySet: PolicySet;
  /**
   * The engine for one request: namespaced policies of other namespaces left out, and the request's
   * registry client. Absent: this engine serves every request as is.
   */
  readonly scoped?: (scope: RequestScope) => Engine;
}

/** A decision, or why there is none (an internal error or the deadline): either way the image is denied. */
export type ImageResult = { readonly decision: Decision } | { readonly error: string };

export const DEFAULT_DEADLINE_MS = 9_000;
/** Distinct images decided at once within one request. */
export const REQUEST_CONCURRENCY = 8;

/**
 * Decides each distinct image once (two containers naming the same tag get the same digest), at most
 * REQUEST_CONCURRENCY at a time, until `deadlineMs` after `startedAt` (the request's arrival: earlier
 * work spends the same deadline). Never throws: a failed or unfinished image gets an `error`, which
 * names the deadline as configured.
 */
export async function decideAll(
  engine: Engine,
  images: readonly string[],
  deadlineMs: number,
  /** The same for every image of the request (its Kubernetes context, for `spec.match`). */
  request: DecideRequest = {},
  startedAt: number = Date.now(),
): Promise<Map<string, ImageResult>> {
  const distinct = [...new Set(images)];
  const results = new Map<string, ImageResult>();
  let expired = false;
  let next = 0;
  const worker = async () => {
    while (!expired && next < distinct.length) {
      const image = distinct[next++]!;
      let result: ImageResult;
      try {
        result = { decision: await engine.decider.decide(image, request) };
      } catch (error) {
        result = { error: `internal error: ${error instanceof Error ? error.message : String(error)}` };
      }
      if (!expired) results.set(image, result);
    }
  };
  let timer: NodeJS.Timeout | undefined;
  const deadline = new Promise<void>((resolve) => {
    timer = setTimeout(
      () => {
        expired = true;
        resolve();
      },
      Math.max(1, startedAt + deadlineMs - Date.now()),
    );
  });
  try {
    const workers = Array.from({ length: Math.min(REQUEST_CONCURRENCY, distinct.length) }, worker);
    await Promise.race([Promise.all(workers), deadline]);
  } finally {
    clearTimeout(timer);
  }
  expired = true;
  const seconds = Math.round(deadlineMs / 100) / 10;
  for (const image of distinct) {
    if (!results.has(image)) {
      results.set(image, {
        error: `not verified within the webhook's internal deadline of ${seconds}s (registry slow or unreachable?)`,
      });
    }
  }
  return results;
}
