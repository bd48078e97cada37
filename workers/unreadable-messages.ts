/**
 * A job message its thread cannot deserialize (a view over a buffer that
 * was detached as it was listed for transfer, say) raises 'messageerror' on
 * the port Piscina reads jobs from, and Piscina does not listen for it: the
 * message is dropped and its job never settles (issue 16). This thread then
 * dies of that error, as it does when Piscina reads such a message
 * synchronously, so that the pool fails the jobs it holds and replaces it.
 *
 * Piscina gives its task port to no one; it is found as Piscina attaches
 * its 'message' listener to it, once, after this thread's entry has loaded.
 */
import { MessagePort } from 'node:worker_threads';

type On = (this: MessagePort, event: string, listener: (...args: unknown[]) => void) => MessagePort;

// The name of Piscina's listener, `onMessage.bind(...)` in its worker.
const PISCINA_LISTENER = 'bound onMessage';

export function watchForUnreadableMessages(): void {
  const prototype = MessagePort.prototype as unknown as { on: On };
  if (Object.hasOwn(prototype, 'on')) return;
  const inherited = prototype.on;
  prototype.on = function on(this: MessagePort, event, listener) {
    if (event === 'message' && listener.name === PISCINA_LISTENER) {
      // Found: every other port keeps the usual behaviour.
      delete (prototype as Partial<{ on: On }>).on;
      inherited.call(this, 'messageerror', dieOf);
    }
    return inherited.call(this, event, listener);
  };
}

function dieOf(error: unknown): never {
  throw error;
}
