/**
 * `baozi/dashboard`: a read-only web page of one runner, live.
 */
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { InvalidOptionError } from '../errors.js';
import type { RunnerEvents } from '../events.js';
import type { JobHandle } from '../job/job.js';
import type { RunnerMetrics } from './metrics.js';
import type { Runner } from '../runner.js';
import { PAGE_CSS, PAGE_HTML, PAGE_SCRIPT } from './dashboard-page.js';

/** Options of `serveDashboard()`. Unknown keys are rejected. */
export interface DashboardOptions {
  /**
   * TCP port to listen on; 0 picks a free one (read it from `url`).
   * Integer from 0 to 65535.
   * @default 0
   */
  port?: number;
  /**
   * Address to listen on. The default, loopback, keeps the page on this
   * machine; on loopback, requests whose `Host` is not this address (a DNS
   * rebinding page in a browser) are refused. Anything else exposes task
   * names, job ids and error messages to whoever can reach it: there is no
   * authentication.
   * @default '127.0.0.1'
   */
  host?: string;
  /**
   * Milliseconds between two samples sent to the page. The page keeps the
   * last 5 minutes of samples (at most 600). Integer, at least 10.
   * @default 1000
   */
  intervalMs?: number;
}

/** A running dashboard. */
export interface Dashboard {
  /** Where the page is, e.g. `http://127.0.0.1:41234/`. */
  readonly url: string;
  /** Ends the pages' streams, stops listening to the runner and closes the server. */
  close(): Promise<void>;
}

/** What the dashboard needs of a runner. */
export type DashboardSource = Pick<Runner, 'capacity' | 'metrics' | 'on' | 'off'>;

/** One point of the page's charts. Times in ms. */
interface Sample {
  at: number;
  queued: number;
  capacity: number;
  running: number;
  threads: number;
  blocked: number;
  scheduled: number;
  utilization: number;
  submitted: number;
  succeeded: number;
  failed: number;
  cancelled: number;
  expired: number;
  retried: number;
  /** Jobs settled per second since the previous sample. */
  throughput: number;
  waitP50: number;
  waitP99: number;
  runP50: number;
  runP99: number;
}

/** A row of the page's recent jobs. */
interface RecentJob {
  id: string;
  task: string;
  state: string;
  attempt: number;
  /** Of the latest run, once it ended. */
  durationMs: number | null;
  error: string | null;
}

const HISTORY_MS = 5 * 60_000;
const MAX_SAMPLES = 600;
const RECENT_JOBS = 50;
const LOOPBACK = new Set(['127.0.0.1', '::1', 'localhost']);

/**
 * Serves a one-page dashboard of `runner`: table fill, threads busy,
 * producers waiting, throughput and wait/run latency over the last
 * minutes, and the 50 most recent jobs with their state, attempts,
 * duration and error, updated by server-sent events. Read-only, on
 * loopback by default. While it serves, it samples `runner.metrics()` every
 * `intervalMs` and listens to the job events from `running` on (not
 * `queued`). Resolves once it listens; rejects with `InvalidOptionError`
 * for bad options, or with the server's error (a port in use).
 */
export async function serveDashboard(runner: DashboardSource, options: DashboardOptions = {}): Promise<Dashboard> {
  const { port, host, intervalMs } = resolveOptions(options);
  const samples: Sample[] = [];
  const recent = new Map<string, RecentJob>();
  const streams = new Set<ServerResponse>();
  const maxSamples = Math.min(MAX_SAMPLES, Math.ceil(HISTORY_MS / intervalMs));

  const remember = (job: JobHandle, error?: unknown): void => {
    recent.delete(job.id);
    recent.set(job.id, {
      id: job.id,
      task: job.name,
      state: job.state,
      attempt: job.attempt,
      durationMs: job.startedAt !== undefined && job.finishedAt !== undefined && job.state !== 'running' ? job.finishedAt - job.startedAt : null,
      error: error === undefined ? null : describeError(error),
    });
    if (recent.size > RECENT_JOBS) recent.delete(recent.keys().next().value!);
  };
  const listeners: { [Name in keyof RunnerEvents]?: RunnerEvents[Name] } = {
    running: ({ job }) => remember(job),
    retrying: ({ job, error }) => remember(job, error),
    succeeded: ({ job }) => remember(job),
    failed: ({ job, error }) => remember(job, error),
    cancelled: ({ job }) => remember(job),
    expired: ({ job }) => remember(job),
  };
  for (const [name, listener] of Object.entries(listeners)) runner.on(name as 'running', listener as RunnerEvents['running']);

  let previous: RunnerMetrics | undefined;
  const takeSample = (): Sample => {
    const metrics = runner.metrics();
    const sample = toSample(metrics, previous, runner.capacity);
    previous = metrics;
    samples.push(sample);
    if (samples.length > maxSamples) samples.splice(0, samples.length - maxSamples);
    return sample;
  };
  takeSample();
  const timer = setInterval(() => {
    const sample = takeSample();
    if (streams.size === 0) return;
    const message = `event: sample\ndata: ${JSON.stringify({ sample, jobs: [...recent.values()] })}\n\n`;
    for (const stream of streams) stream.write(message);
  }, intervalMs);
  timer.unref();

  const server = createServer((request, response) => {
    if (!isAllowedHost(request, host, server.address() as AddressInfo)) {
      response.writeHead(403, { 'content-type': 'text/plain' }).end('This dashboard answers only to its own address.');
      return;
    }
    if (request.method !== 'GET' && request.method !== 'HEAD') {
      response.writeHead(405, { allow: 'GET, HEAD' }).end();
      return;
    }
    const path = new URL(request.url ?? '/', 'http://dashboard').pathname;
    switch (path) {
      case '/':
        return sendStatic(response, 'text/html; charset=utf-8', PAGE_HTML);
      case '/dashboard.css':
        return sendStatic(response, 'text/css; charset=utf-8', PAGE_CSS);
      case '/dashboard.js':
        return sendStatic(response, 'text/javascript; charset=utf-8', PAGE_SCRIPT);
      case '/events': {
        response.writeHead(200, { ...SECURITY_HEADERS, 'content-type': 'text/event-stream', 'cache-control': 'no-store', connection: 'keep-alive' });
        response.write(`retry: ${Math.max(1000, intervalMs)}\nevent: history\ndata: ${JSON.stringify({ samples, jobs: [...recent.values()] })}\n\n`);
        streams.add(response);
        response.on('close', () => streams.delete(response));
        return;
      }
      default:
        response.writeHead(404, { 'content-type': 'text/plain' }).end('not found');
    }
  });
  try {
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(port, host, () => {
        server.off('error', reject);
        resolve();
      });
    });
  } catch (error) {
    clearInterval(timer);
    for (const [name, listener] of Object.entries(listeners)) runner.off(name as 'running', listener as RunnerEvents['running']);
    throw error;
  }
  const address = server.address() as AddressInfo;
  const shownHost = address.family === 'IPv6' ? `[${address.address}]` : address.address;

  let closing: Promise<void> | undefined;
  return {
    url: `http://${shownHost}:${address.port}/`,
    close() {
      closing ??= new Promise<void>((resolve) => {
        clearInterval(timer);
        for (const [name, listener] of Object.entries(listeners)) runner.off(name as 'running', listener as RunnerEvents['running']);
        for (const stream of streams) stream.end();
        server.close(() => resolve());
        server.closeAllConnections();
      });
      return closing;
    },
  };
}

const SECURITY_HEADERS = {
  'x-content-type-options': 'nosniff',
  'content-security-policy': "default-src 'none'; script-src 'self'; style-src 'self'; connect-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'",
  'referrer-policy': 'no-referrer',
};

function sendStatic(response: ServerResponse, type: string, body: string): void {
  response.writeHead(200, { ...SECURITY_HEADERS, 'content-type': type, 'cache-control': 'no-cache' }).end(body);
}

function toSample(metrics: RunnerMetrics, previous: RunnerMetrics | undefined, capacity: number): Sample {
  const { total, gauges } = metrics;
  const settled = (m: RunnerMetrics): number => m.total.succeeded + m.total.failed + m.total.cancelled + m.total.expired;
  let throughput = 0;
  // After a reset (`since` moved), count from the new period's start.
  if (previous && previous.since === metrics.since) throughput = ((settled(metrics) - settled(previous)) * 1000) / Math.max(1, metrics.at - previous.at);
  else if (previous) throughput = (settled(metrics) * 1000) / Math.max(1, metrics.at - metrics.since);
  return {
    at: metrics.at,
    ...gauges,
    capacity,
    submitted: total.submitted,
    succeeded: total.succeeded,
    failed: total.failed,
    cancelled: total.cancelled,
    expired: total.expired,
    retried: total.retried,
    throughput,
    waitP50: total.waitTime.p50,
    waitP99: total.waitTime.p99,
    runP50: total.runTime.p50,
    runP99: total.runTime.p99,
  };
}

function describeError(error: unknown): string {
  if (error instanceof Error) {
    const code = (error as { code?: unknown }).code;
    return typeof code === 'string' ? `${code}: ${error.message}` : `${error.name}: ${error.message}`;
  }
  try {
    return String(error);
  } catch {
    return 'an error that cannot be shown';
  }
}

// A page on another site can point a name it controls at 127.0.0.1 (DNS
// rebinding); its requests then carry that name as Host.
function isAllowedHost(request: IncomingMessage, host: string, address: AddressInfo): boolean {
  if (!LOOPBACK.has(host)) return true;
  const allowed = [`127.0.0.1:${address.port}`, `localhost:${address.port}`, `[::1]:${address.port}`];
  return allowed.includes(request.headers.host ?? '');
}

function resolveOptions(options: DashboardOptions): Required<DashboardOptions> {
  if (typeof options !== 'object' || options === null) throw new InvalidOptionError('serveDashboard', options, 'an options object or undefined');
  for (const key of Object.keys(options)) {
    if (key !== 'port' && key !== 'host' && key !== 'intervalMs') {
      throw new InvalidOptionError(`serveDashboard.${key}`, (options as Record<string, unknown>)[key], 'no such option (known: port, host, intervalMs)');
    }
  }
  const { port = 0, host = '127.0.0.1', intervalMs = 1000 } = options;
  if (!Number.isInteger(port) || port < 0 || port > 65_535) throw new InvalidOptionError('serveDashboard.port', port, 'an integer from 0 to 65535');
  if (typeof host !== 'string' || host === '') throw new InvalidOptionError('serveDashboard.host', host, 'a host name or address');
  if (!Number.isInteger(intervalMs) || intervalMs < 10) throw new InvalidOptionError('serveDashboard.intervalMs', intervalMs, 'an integer, at least 10');
  return { port, host, intervalMs };
}
