/**
 * Coalesce identical in-flight operations. The shared operation runs under its own AbortController that
 * fires only when every waiter has given up, so one caller's deadline never fails another caller, and an
 * operation nobody waits for any more is stopped.
 */
interface Flight<T> {
  readonly promise: Promise<T>;
  readonly controller: AbortController;
  waiters: number;
}

export class SingleFlight {
  readonly #flights = new Map<string, Flight<unknown>>();

  get size(): number {
    return this.#flights.size;
  }

  /**
   * Join or start the flight for `key`. When `signal` aborts, this caller is rejected with `abortError()`
   * (default: the signal's reason) while the others keep waiting.
   */
  run<T>(
    key: string,
    operation: (signal: AbortSignal) => Promise<T>,
    signal?: AbortSignal,
    abortError: () => Error = () => signal?.reason as Error,
  ): Promise<T> {
    if (signal?.aborted) return Promise.reject(abortError());
    let flight = this.#flights.get(key) as Flight<T> | undefined;
    if (flight === undefined) {
      const controller = new AbortController();
      const promise = operation(controller.signal).finally(() => {
        if (this.#flights.get(key) === created) this.#flights.delete(key);
      });
      const created: Flight<T> = { promise, controller, waiters: 0 };
      promise.catch(() => {});
      this.#flights.set(key, created as Flight<unknown>);
      flight = created;
    }
    return this.#wait(flight, signal, abortError);
  }

  #wait<T>(flight: Flight<T>, signal: AbortSignal | undefined, abortError: () => Error): Promise<T> {
    flight.waiters += 1;
    if (signal === undefined) return flight.promise;
    return new Promise<T>((resolve, reject) => {
      const onAbort = (): void => {
        flight.waiters -= 1;
        if (flight.waiters === 0) flight.controller.abort(signal.reason);
        reject(abortError());
      };
      signal.addEventListener('abort', onAbort, { once: true });
      flight.promise.then(
        (value) => {
          signal.removeEventListener('abort', onAbort);
          resolve(value);
        },
        (error: unknown) => {
          signal.removeEventListener('abort', onAbort);
          reject(error as Error);
        },
      );
    });
  }
}
