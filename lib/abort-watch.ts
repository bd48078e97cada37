/**
 * One `abort` listener per signal, however many jobs and waiting producers
 * use it. Thousands of jobs sharing one AbortController would otherwise add
 * thousands of listeners to it, and Node warns past 10
 * (MaxListenersExceededWarning) about what is no leak.
 */
interface Watch {
  readonly callbacks: Set<{ call: () => void }>;
  readonly listener: () => void;
}

const watches = new WeakMap<AbortSignal, Watch>();

/**
 * Calls `onAbort` once when `signal` aborts, unless the returned function
 * was called first. The signal's last watcher to stop removes its listener.
 */
export function watchAbort(signal: AbortSignal, onAbort: () => void): () => void {
  let watch = watches.get(signal);
  if (!watch) {
    const callbacks = new Set<{ call: () => void }>();
    const listener = (): void => {
      watches.delete(signal);
      // A callback may stop others (cancelling a job admits a producer that
      // then leaves): only those still watching are called.
      for (const callback of [...callbacks]) {
        if (callbacks.delete(callback)) callback.call();
      }
    };
    watch = { callbacks, listener };
    watches.set(signal, watch);
    signal.addEventListener('abort', listener, { once: true });
  }
  const { callbacks, listener } = watch;
  const callback = { call: onAbort };
  callbacks.add(callback);
  return () => {
    if (!callbacks.delete(callback) || callbacks.size > 0) return;
    if (watches.get(signal) === watch) watches.delete(signal);
    signal.removeEventListener('abort', listener);
  };
}
