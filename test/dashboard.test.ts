import { request } from 'node:http';
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { InvalidOptionError } from 'baozi';
import { serveDashboard, type Dashboard } from 'baozi/dashboard';
import { rejectionOf, useRunners } from './helpers/e2e.js';

const runners = useRunners();

/** Status and body of a GET to `url`, sent with the `host` header given. */
function get(url: string, headers: Record<string, string> = {}, method = 'GET'): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const sent = request(url, { method, headers }, (response) => {
      let body = '';
      response.setEncoding('utf8');
      response.on('data', (chunk: string) => (body += chunk));
      response.on('end', () => resolve({ status: response.statusCode!, body }));
    });
    sent.on('error', reject);
    sent.end();
  });
}

/** The server-sent events of `url` until `count` have arrived, parsed. */
async function readEvents(url: string, count: number): Promise<{ event: string; data: unknown }[]> {
  const controller = new AbortController();
  const response = await fetch(url, { signal: controller.signal });
  expect(response.headers.get('content-type')).toBe('text/event-stream');
  const events: { event: string; data: unknown }[] = [];
  const decoder = new TextDecoder();
  let buffer = '';
  for await (const chunk of response.body as unknown as AsyncIterable<Uint8Array>) {
    buffer += decoder.decode(chunk, { stream: true });
    let end: number;
    while ((end = buffer.indexOf('\n\n')) !== -1) {
      const block = buffer.slice(0, end);
      buffer = buffer.slice(end + 2);
      const event = /^event: (.*)$/m.exec(block)?.[1];
      const data = /^data: (.*)$/m.exec(block)?.[1];
      if (event && data) events.push({ event, data: JSON.parse(data) });
    }
    if (events.length >= count) break;
  }
  controller.abort();
  return events;
}

describe('serveDashboard', () => {
  describe('over HTTP', () => {
    let dashboard: Dashboard | undefined;
    afterAll(async () => {
      await dashboard?.close();
    });

    it('streams the history first, then a sample with the recent jobs each interval', async () => {
      const runner = runners.runner();
      await runner.run('add', 1, 1);
      dashboard = await serveDashboard(runner, { intervalMs: 20 });
      const [history, sample] = await readEvents(`${dashboard.url}events`, 2);
      expect(history!.event).toBe('history');
      const { samples, jobs } = history!.data as { samples: { capacity: number; succeeded: number }[]; jobs: unknown[] };
      expect(samples[0]).toMatchObject({ capacity: runner.capacity, succeeded: 1 });
      expect(jobs).toEqual([]);
      expect(sample!.event).toBe('sample');
      expect(sample!.data).toMatchObject({ sample: { succeeded: 1, queued: 0 }, jobs: [] });
      await dashboard.close();
      await runner.close();
    });

    it('serves the page, its style and script with a strict content policy', async () => {
      const runner = runners.runner();
      dashboard = await serveDashboard(runner);
      expect(dashboard.url).toMatch(/^http:\/\/127\.0\.0\.1:\d+\/$/);
      const page = await fetch(dashboard.url);
      expect(page.status).toBe(200);
      expect(page.headers.get('content-security-policy')).toContain("default-src 'none'");
      expect(await page.text()).toContain('<script src="dashboard.js"');
      for (const file of ['dashboard.js', 'dashboard.css']) expect((await fetch(dashboard.url + file)).status).toBe(200);
      await dashboard.close();
      await runner.close();
    });

    it('answers 404 to an unknown path, 405 to a POST and 403 to another host name', async () => {
      const runner = runners.runner();
      dashboard = await serveDashboard(runner);
      expect((await get(`${dashboard.url}nope`)).status).toBe(404);
      expect((await get(dashboard.url, {}, 'POST')).status).toBe(405);
      // A page that rebound its own name to 127.0.0.1 sends that name as Host.
      expect((await get(dashboard.url, { host: `attacker.example:${new URL(dashboard.url).port}` })).status).toBe(403);
      expect((await get(dashboard.url, { host: `localhost:${new URL(dashboard.url).port}` })).status).toBe(200);
      await dashboard.close();
      await runner.close();
    });

    it('stops listening to the runner once closed', async () => {
      const runner = runners.runner();
      const before = runner.listenerCount('succeeded');
      dashboard = await serveDashboard(runner);
      expect(runner.listenerCount('succeeded')).toBe(before + 1);
      await dashboard.close();
      expect(runner.listenerCount('succeeded')).toBe(before);
      await runner.close();
    });

    it('rejects bad options', async () => {
      const runner = runners.runner();
      for (const options of [{ port: -1 }, { port: 1.5 }, { host: '' }, { intervalMs: 1 }, { prot: 80 }]) {
        const error = await rejectionOf(serveDashboard(runner, options as never));
        expect(error).toBeInstanceOf(InvalidOptionError);
        expect(error.code).toBe('BAOZI_INVALID_OPTION');
      }
      await runner.close();
    });
  });
});
