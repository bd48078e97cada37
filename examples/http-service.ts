/**
 * An HTTP service that offloads a CPU-heavy route to baozi and stays
 * responsive on a cheap one meanwhile.
 *
 *   GET /fib?n=32         computed on a worker thread
 *   GET /fib-inline?n=32  computed on the main thread, for comparison: every
 *                         request waits behind it, /ping included
 *   GET /ping             answered on the main thread at once
 *
 * When the table is full the heavy route answers 503 with Retry-After
 * (`trySubmit`) instead of queueing without bound. Run it with
 * `node dist/examples/http-service.js` after `npm run build`;
 * `npm run example:http-load` measures both ways (examples/http-load.ts).
 */
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { fileURLToPath } from 'node:url';
import { createRunner, TableFullError, type Runner } from 'baozi';
import { fib } from './kitchen.js';

type Kitchen = typeof import('./kitchen.js');

export interface Service {
  server: Server;
  runner: Runner<Kitchen>;
  url: string;
  close(): Promise<void>;
}

export async function startService(options: { port?: number; capacity?: number } = {}): Promise<Service> {
  const runner = createRunner<Kitchen>({ tasks: new URL('./kitchen.js', import.meta.url), capacity: options.capacity ?? 64 });
  const server = createServer((request, response) => {
    const url = new URL(request.url ?? '/', 'http://localhost');
    if (url.pathname === '/ping') {
      response.end('pong');
      return;
    }
    if (url.pathname !== '/fib' && url.pathname !== '/fib-inline') {
      response.writeHead(404).end('not found');
      return;
    }
    const n = Number(url.searchParams.get('n') ?? '30');
    if (!Number.isInteger(n) || n < 0 || n > 40) {
      response.writeHead(400).end('n must be an integer from 0 to 40');
      return;
    }
    if (url.pathname === '/fib-inline') {
      response.end(String(fib(n)));
      return;
    }
    let job;
    try {
      job = runner.trySubmit('fib', [n]);
    } catch (error) {
      if (!(error instanceof TableFullError)) throw error;
      response.writeHead(503, { 'retry-after': '1' }).end('busy, retry later');
      return;
    }
    // A client that hangs up no longer needs its job.
    response.on('close', () => job.cancel('client went away'));
    job.result.then(
      (value) => response.end(String(value)),
      (error: unknown) => response.writeHead(500).end(String(error)),
    );
  });
  await new Promise<void>((resolve) => server.listen(options.port ?? 3000, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    server,
    runner,
    url: `http://127.0.0.1:${port}`,
    async close() {
      await new Promise<void>((resolve) => server.close(() => resolve()));
      await runner.close();
    },
  };
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const service = await startService({ port: Number(process.env.PORT ?? 3000) });
  console.log(`listening on ${service.url}  (try ${service.url}/fib?n=35 and ${service.url}/ping)`);
  process.once('SIGINT', () => void service.close());
}
