/**
 * The dashboard in a real browser: Debian's chromium driven by playwright-core.
 * Run by `npm run test:browser` (CI installs chromium); `npm test` covers the
 * dashboard over HTTP without a browser.
 */
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { serveDashboard, type Dashboard } from 'baozi/dashboard';
import { chromium, type Browser } from 'playwright-core';
import { holdThread, rejectionOf, useRunners } from '../helpers/e2e.js';

const runners = useRunners();

// The page functions below run in the browser; the tests compile without the DOM types.
declare const document: { getElementById(id: string): { textContent: string | null } | null };

// Debian's chromium (.ci/run installs it); playwright-core downloads no browser.
const CHROMIUM = {
  executablePath: '/usr/bin/chromium',
  args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-component-update', '--disable-sync', '--no-first-run'],
};

describe('serveDashboard', () => {
  describe('in a browser', () => {
    let browser: Browser;
    beforeAll(async () => {
      browser = await chromium.launch(CHROMIUM);
    }, 60_000);
    afterAll(async () => {
      await browser?.close();
    });

    it('shows the table filling, threads busy, jobs done and a failed job with its error as jobs run', async () => {
      const runner = runners.runner({ maxThreads: 1, minThreads: 1, capacity: 4 });
      const dashboard = await serveDashboard(runner, { intervalMs: 50 });
      const page = await browser.newPage();
      try {
        await page.goto(dashboard.url);
        await page.waitForFunction(() => document.getElementById('status')!.textContent === 'live');
        expect(await page.textContent('#capacity')).toBe('4');
        expect(await page.textContent('#succeeded')).toBe('0');

        const hold = await holdThread(runner);
        const waiting = await Promise.all([runner.submit('add', [1, 1]), runner.submit('add', [2, 2])]);
        await page.waitForFunction(() => document.getElementById('queued')!.textContent === '2' && document.getElementById('running')!.textContent === '1');
        expect(await page.getAttribute('#table-fill', 'style')).toContain('width: 50%');
        expect(await page.getAttribute('#threads-busy', 'style')).toContain('width: 100%');

        hold.open();
        await Promise.all([hold.job.result, ...waiting.map((job) => job.result)]);
        const burnt = await runner.submit('throwError', ['burnt', 'E_BURNT']);
        await rejectionOf(burnt.result);
        await page.waitForFunction(() => document.getElementById('succeeded')!.textContent === '3' && document.getElementById('failed')!.textContent === '1');
        expect(await page.textContent('#queued')).toBe('0');
        expect(await page.textContent('#running')).toBe('0');

        const row = page.locator(`#jobs tr[data-id="${burnt.id}"] td`);
        await row.first().waitFor();
        const cells = await row.allTextContents();
        expect(cells.slice(0, 4)).toEqual([burnt.id, 'throwError', 'failed', '1']);
        expect(Number(cells[4])).toBeGreaterThanOrEqual(0);
        expect(cells[5]).toContain('BAOZI_TASK_FAILED');
        expect(await page.locator('#throughput-chart polyline').count()).toBe(1);
        expect(await page.locator('#latency-chart polyline').count()).toBe(4);
      } finally {
        await page.close();
        await dashboard.close();
      }
      await runner.close();
    }, 60_000);
  });

});
