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
  #leading = false;

  constructor(options: LeaderElectionOptions) {
    this.#o = options;
    this.#duration = options.leaseDurationMs ?? LEASE_DEFAULTS.leaseDurationMs;
    this.#renewDeadline = options.renewDeadlineMs ?? LEASE_DEFAULTS.renewDeadlineMs;
    this.#retry = options.retryPeriodMs ?? LEASE_DEFAULTS.retryPeriodMs;
    if (!(this.#renewDeadline < this.#duration && this.#retry < this.#renewDeadline))
      throw new Error('leader election needs retryPeriod < renewDeadline < leaseDuration');
  }

  get leading(): boolean {
    return this.#leading;
  }

  /**
   * Runs `lead` whenever this process holds the lease. Its signal aborts when the lease is lost (or
   * `signal` aborts); then the elector waits to win again. Resolves once `signal` has aborted, `lead`
   * has returned and the lease has been released for the next candidate.
   */
  async run(signal: AbortSignal, lead: (leading: AbortSignal) => Promise<void>): Promise<void> {
    while (!signal.aborted) {
      if (!(await this.#tryAcquireOrRenew())) {
        await pause(this.#retry, signal);
        continue;
      }
      this.#leading = true;
      this.#o.log?.('info', 'leading: this process re-verifies the cluster', { lease: this.#where() });
      const leading = new AbortController();
      const stopLeading = () => leading.abort();
      signal.addEventListener('abort', stopLeading, { once: true });
      const led = lead(leading.signal).catch((error: unknown) =>
        this.#o.log?.('warn', `leading failed: ${(error as Error).message}`),
      );
      let renewed = this.#now();
      while (!leading.signal.aborted) {
        await pause(this.#retry, leading.signal);
        if (leading.signal.aborted) break;
        if (await this.#tryAcquireOrRenew()) renewed = this.#now();
        else if (this.#now() - renewed >= this.#renewDeadline) {
          this.#o.log?.('warn', 'lost the lease: stopped re-verifying until it is won again', {
            lease: this.#where(),
          });
          leading.abort();
        }
      }
      signal.removeEventListener('abort', stopLeading);
      await led;
      this.#leading = false;
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

/** RFC 3339 with microseconds, as MicroTime is serialized. */
function microTime(ms: number): string {
  return new Date(ms).toISOString().replace(/Z$/, '000Z');
}
