/**
 * Leader election on a `coordination.k8s.io/v1` Lease, so that exactly one process re-verifies the
 * cluster even when several run (`serve --audit` in every webhook replica, or a controller rollout).
 * Two leaders would write each report twice and send every Event and notification twice.
 *
 * The rules are client-go's: a lease is free when its holder has not renewed it for
 * `leaseDurationSeconds` as observed on OUR clock (the time we last saw the record change, not the
 * `renewTime` written by another machine, so clock skew between nodes cannot steal a lease); every
 * write carries the `resourceVersion` read, so two candidates cannot both win; a leader that has not
 * renewed within `renewDeadlineMs` stops leading before its lease can expire for the others.
 */
import type { Lease, LeaseApi } from '../kubernetes/api.ts';
import { pause } from '../util/pause.ts';

export interface LeaderElectionOptions {
  readonly api: LeaseApi;
  readonly namespace: string;
  readonly name: string;
  /** Unique per process: the pod name plus a random suffix. */
  readonly identity: string;
  readonly leaseDurationMs?: number;
  readonly renewDeadlineMs?: number;
  readonly retryPeriodMs?: number;
  readonly now?: () => number;
  readonly log?: (level: 'info' | 'warn', message: string, fields?: Record<string, unknown>) => void;
}

export const LEASE_DEFAULTS = { leaseDurationMs: 15_000, renewDeadlineMs: 10_000, retryPeriodMs: 2_000 };

export class LeaderElector {
  readonly #o: LeaderElectionOptions;
  readonly #duration: number;
  readonly #renewDeadline: number;
  readonly #retry: number;
  /** The last lease record seen and when (our clock) it was first seen. */
  #observed: { record: string; at: number } | undefined;
  /** The last renewal sent while leading (it may still be running after we stopped waiting for it). */
  #attempt: Promise<boolean> | undefined;

  constructor(options: LeaderElectionOptions) {
    this.#o = options;
    this.#duration = options.leaseDurationMs ?? LEASE_DEFAULTS.leaseDurationMs;
    this.#renewDeadline = options.renewDeadlineMs ?? LEASE_DEFAULTS.renewDeadlineMs;
    this.#retry = options.retryPeriodMs ?? LEASE_DEFAULTS.retryPeriodMs;
    if (!(this.#renewDeadline < this.#duration && this.#retry < this.#renewDeadline))
      throw new Error('leader election needs retryPeriod < renewDeadline < leaseDuration');
  }

  /**
   * Runs `lead` whenever this process holds the lease. Its signal aborts when the lease is lost (or
   * `signal` aborts); then the elector waits to win again. Resolves once `signal` has aborted, `lead`
   * has returned and the lease has been released for the next candidate.
   */
  async run(signal: AbortSignal, lead: (leading: AbortSignal) => Promise<void>): Promise<void> {
    while (!signal.aborted) {
      // Our write can have reached the API server at any moment after we sent it, and the others time
      // the lease from when they see it: a renewal counts from when it was SENT, never from its answer.
      let sent = this.#now();
      if (!(await this.#tryAcquireOrRenew())) {
        await pause(this.#retry, signal);
        continue;
      }
      this.#o.log?.('info', 'leading: this process re-verifies the cluster', { lease: this.#where() });
      const leading = new AbortController();
      const stopLeading = () => leading.abort();
      signal.addEventListener('abort', stopLeading, { once: true });
      const led = lead(leading.signal).catch((error: unknown) =>
        this.#o.log?.('warn', `leading failed: ${(error as Error).message}`),
      );
      // The step-down is a timer, not a check after each attempt: an attempt that hangs (an API server
      // that accepts the connection and never answers) must not keep us leading past the deadline.
      let deadline: NodeJS.Timeout | undefined;
      const armDeadline = (renewed: number) => {
        clearTimeout(deadline);
        deadline = setTimeout(
          () => {
            this.#o.log?.('warn', 'lost the lease: stopped re-verifying until it is won again', {
              lease: this.#where(),
            });
            leading.abort();
          },
          Math.max(0, renewed + this.#renewDeadline - this.#now()),
        );
      };
      armDeadline(sent);
      while (!leading.signal.aborted) {
        await pause(this.#retry, leading.signal);
        if (leading.signal.aborted) break;
        sent = this.#now();
        const attempt = (this.#attempt = this.#tryAcquireOrRenew());
        if (await untilAborted(attempt, leading.signal)) armDeadline(sent);
      }
      clearTimeout(deadline);
      signal.removeEventListener('abort', stopLeading);
      await led;
    }
    await this.#release();
  }

  async #tryAcquireOrRenew(): Promise<boolean> {
    const { api, namespace, name, identity } = this.#o;
    const now = this.#now();
    const time = microTime(now);
    let lease: Lease | undefined;
    try {
      lease = await api.getLease(namespace, name);
      if (!lease) {
        return await api.writeLease({
          metadata: { name, namespace },
          spec: {
            holderIdentity: identity,
            leaseDurationSeconds: Math.ceil(this.#duration / 1000),
            acquireTime: time,
            renewTime: time,
            leaseTransitions: 0,
          },
        });
      }
      const spec = lease.spec ?? {};
      const record = JSON.stringify(spec);
      if (this.#observed?.record !== record) this.#observed = { record, at: now };
      const holder = spec.holderIdentity ?? '';
      const mine = holder === identity;
      const heldByOther =
        !mine && holder !== '' && this.#observed.at + (spec.leaseDurationSeconds ?? 0) * 1000 > now;
      if (heldByOther) return false;
      const written = await api.writeLease({
        ...lease,
        spec: {
          ...spec,
          holderIdentity: identity,
          leaseDurationSeconds: Math.ceil(this.#duration / 1000),
          acquireTime: mine ? (spec.acquireTime ?? time) : time,
          renewTime: time,
          leaseTransitions: (spec.leaseTransitions ?? 0) + (mine ? 0 : 1),
        },
      });
      return written;
    } catch (error) {
      this.#o.log?.('warn', `lease ${this.#where()}: ${(error as Error).message}`);
      return false;
    }
  }

  /** Hands the lease over at once instead of making the next leader wait for it to expire. */
  async #release(): Promise<void> {
    // A renewal left running when we stopped must not land after the release and hold the lease again.
    await this.#attempt;
    try {
      const lease = await this.#o.api.getLease(this.#o.namespace, this.#o.name);
      if (lease?.spec?.holderIdentity !== this.#o.identity) return;
      await this.#o.api.writeLease({
        ...lease,
        spec: {
          ...lease.spec,
          holderIdentity: '',
          leaseDurationSeconds: 1,
          renewTime: microTime(this.#now()),
        },
      });
    } catch (error) {
      this.#o.log?.('warn', `releasing lease ${this.#where()}: ${(error as Error).message}`);
    }
  }

  #where(): string {
    return `${this.#o.namespace}/${this.#o.name}`;
  }

  #now(): number {
    return this.#o.now?.() ?? Date.now();
  }
}

/** The attempt's answer, or false as soon as `signal` aborts (the attempt is left to finish alone). */
function untilAborted(attempt: Promise<boolean>, signal: AbortSignal): Promise<boolean> {
  if (signal.aborted) return Promise.resolve(false);
  return new Promise((resolve) => {
    const stop = () => resolve(false);
    signal.addEventListener('abort', stop, { once: true });
    void attempt.then((won) => {
      signal.removeEventListener('abort', stop);
      resolve(won);
    });
  });
}

/** RFC 3339 with microseconds, as MicroTime is serialized. */
function microTime(ms: number): string {
  return new Date(ms).toISOString().replace(/Z$/, '000Z');
}
