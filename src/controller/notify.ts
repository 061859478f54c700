/**
 * Notifications as CloudEvents 1.0 in structured mode (`application/cloudevents+json`), POSTed to one
 * configured URL on each new violation and each recovery.
 *
 * Never blocks the loop: `send` queues and returns; a background sender posts one event at a time with
 * a per-attempt timeout and a few retries (network errors, 408, 429, 5xx; other statuses are final).
 * The queue is bounded: past it new events are dropped and counted, so a dead receiver costs memory
 * for at most `maxQueue` events.
 */
import { randomUUID } from 'node:crypto';

export const VIOLATION_TYPE = 'dev.portcullis.violation';
export const RECOVERY_TYPE = 'dev.portcullis.recovery';

export interface CloudEvent {
  readonly specversion: '1.0';
  readonly type: typeof VIOLATION_TYPE | typeof RECOVERY_TYPE;
  readonly source: string;
  readonly id: string;
  readonly time: string;
  readonly subject?: string;
  readonly datacontenttype: 'application/json';
  readonly data: unknown;
}

export class NotifyConfigError extends Error {
  readonly code = 'NOTIFY_CONFIG';
  constructor(message: string) {
    super(message);
    this.name = 'NotifyConfigError';
  }
}

export interface NotifierOptions {
  readonly url: string;
  /** The CloudEvents `source` (a URI reference). Default `/portcullis/controller`. */
  readonly source?: string;
  /** Permit plain http:// (tests, in-cluster sidecars). Default: HTTPS only. */
  readonly allowHttp?: boolean;
  readonly timeoutMs?: number;
  /** Attempts per event, the first included. */
  readonly attempts?: number;
  readonly backoffMs?: number;
  readonly maxQueue?: number;
  /** Told about each event given up on. */
  readonly onFailure?: (event: CloudEvent, why: string) => void;
}

export class CloudEventNotifier {
  readonly #url: URL;
  readonly #source: string;
  readonly #timeoutMs: number;
  readonly #attempts: number;
  readonly #backoffMs: number;
  readonly #maxQueue: number;
  readonly #onFailure: NonNullable<NotifierOptions['onFailure']>;
  readonly #queue: CloudEvent[] = [];
  #draining: Promise<void> | undefined;
  readonly stats = { sent: 0, failed: 0, dropped: 0 };

  constructor(options: NotifierOptions) {
    let url: URL;
    try {
      url = new URL(options.url);
    } catch {
      throw new NotifyConfigError(`--notify-url ${JSON.stringify(options.url)} is not a URL`);
    }
    if (url.protocol !== 'https:' && !(url.protocol === 'http:' && options.allowHttp)) {
      throw new NotifyConfigError(
        `--notify-url ${url.origin} must be https:// (plain http only with --notify-allow-http)`,
      );
    }
    if (url.username || url.password)
      throw new NotifyConfigError('--notify-url must not contain credentials');
    this.#url = url;
    this.#source = options.source ?? '/portcullis/controller';
    this.#timeoutMs = options.timeoutMs ?? 5_000;
    this.#attempts = Math.max(1, options.attempts ?? 3);
    this.#backoffMs = options.backoffMs ?? 1_000;
    this.#maxQueue = options.maxQueue ?? 1_000;
    this.#onFailure = options.onFailure ?? (() => {});
  }

  /** Queues the event; returns at once. */
  send(type: CloudEvent['type'], subject: string, data: unknown, now = new Date()): CloudEvent {
    const event: CloudEvent = {
      specversion: '1.0',
      type,
      source: this.#source,
      id: randomUUID(),
      time: now.toISOString(),
      subject,
      datacontenttype: 'application/json',
      data,
    };
    if (this.#queue.length >= this.#maxQueue) {
      this.stats.dropped += 1;
      this.#onFailure(event, `the notification queue is full (${this.#maxQueue}): dropped`);
      return event;
    }
    this.#queue.push(event);
    this.#draining ??= this.#drain().finally(() => (this.#draining = undefined));
    return event;
  }

  /** Resolves once everything queued so far was sent or given up on. */
  async flush(): Promise<void> {
    while (this.#draining) await this.#draining;
  }

  async #drain(): Promise<void> {
    for (let event = this.#queue.shift(); event; event = this.#queue.shift()) {
      const why = await this.#deliver(event);
      if (why === undefined) this.stats.sent += 1;
      else {
        this.stats.failed += 1;
        this.#onFailure(event, why);
      }
    }
  }

  /** undefined when delivered, else why not. */
  async #deliver(event: CloudEvent): Promise<string | undefined> {
    let why = '';
    for (let attempt = 1; attempt <= this.#attempts; attempt++) {
      if (attempt > 1) await new Promise((r) => setTimeout(r, this.#backoffMs * 2 ** (attempt - 2)));
      try {
        const response = await fetch(this.#url, {
          method: 'POST',
          headers: { 'content-type': 'application/cloudevents+json; charset=utf-8' },
          body: JSON.stringify(event),
          signal: AbortSignal.timeout(this.#timeoutMs),
          redirect: 'error',
        });
        await response.body?.cancel();
        if (response.ok) return undefined;
        why = `${this.#url.origin} answered HTTP ${response.status}`;
        if (!(response.status === 408 || response.status === 429 || response.status >= 500)) return why;
      } catch (error) {
        const e = error as Error;
        why =
          e.name === 'TimeoutError'
            ? `${this.#url.origin}: no answer within ${this.#timeoutMs} ms`
            : `${this.#url.origin}: ${e.message}`;
      }
    }
    return `${why} (after ${this.#attempts} attempts)`;
  }
}
