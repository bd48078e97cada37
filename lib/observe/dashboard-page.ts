/**
 * The dashboard's page, its style and its script, served as they are by
 * `lib/dashboard.ts`: no build step, nothing from a CDN. The script renders
 * job data with `textContent` only, so task names and error messages are
 * never read as HTML.
 */

export const PAGE_HTML = `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>baozi</title>
<link rel="stylesheet" href="dashboard.css">
<script src="dashboard.js" defer></script>
</head>
<body>
<header>
  <h1>baozi</h1>
  <span id="status">connecting…</span>
</header>
<main>
  <section class="tiles">
    <div class="tile"><h2>table</h2><p><span id="queued">0</span> / <span id="capacity">0</span> plates</p><div class="meter"><div id="table-fill"></div></div></div>
    <div class="tile"><h2>threads busy</h2><p><span id="running">0</span> jobs on <span id="threads">0</span> threads</p><div class="meter"><div id="threads-busy"></div></div></div>
    <div class="tile"><h2>producers waiting</h2><p id="blocked">0</p></div>
    <div class="tile"><h2>scheduled</h2><p id="scheduled">0</p></div>
    <div class="tile"><h2>throughput</h2><p><span id="throughput">0</span> jobs/s</p></div>
    <div class="tile wide"><h2>settled</h2><p><span id="succeeded">0</span> ok · <span id="failed">0</span> failed · <span id="cancelled">0</span> cancelled · <span id="expired">0</span> expired · <span id="retried">0</span> retried</p></div>
  </section>
  <section class="charts">
    <figure><figcaption>throughput, jobs/s (max <span id="throughput-max">0</span>)</figcaption><svg id="throughput-chart" viewBox="0 0 600 120" preserveAspectRatio="none"></svg></figure>
    <figure><figcaption>latency, ms (max <span id="latency-max">0</span>): <span class="wait">wait p50 <span id="wait-p50">0</span> · p99 <span id="wait-p99">0</span></span> · <span class="run">run p50 <span id="run-p50">0</span> · p99 <span id="run-p99">0</span></span></figcaption><svg id="latency-chart" viewBox="0 0 600 120" preserveAspectRatio="none"></svg></figure>
  </section>
  <section>
    <h2>recent jobs</h2>
    <table>
      <thead><tr><th>id</th><th>task</th><th>state</th><th>attempt</th><th>duration (ms)</th><th>error</th></tr></thead>
      <tbody id="jobs"></tbody>
    </table>
  </section>
</main>
</body>
</html>
`;

export const PAGE_CSS = `
:root { color-scheme: light dark; font-family: system-ui, sans-serif; }
body { margin: 0; }
header { display: flex; align-items: baseline; gap: 1rem; padding: 0.5rem 1rem; border-bottom: 1px solid #8884; }
h1 { font-size: 1.2rem; margin: 0; }
h2 { font-size: 0.8rem; text-transform: uppercase; letter-spacing: 0.05em; margin: 0 0 0.3rem; opacity: 0.7; }
main { padding: 1rem; display: grid; gap: 1rem; }
.tiles { display: grid; grid-template-columns: repeat(auto-fit, minmax(12rem, 1fr)); gap: 0.75rem; }
.tile { border: 1px solid #8884; border-radius: 6px; padding: 0.6rem 0.8rem; }
.tile.wide { grid-column: span 2; }
.tile p { margin: 0; font-size: 1.1rem; font-variant-numeric: tabular-nums; }
.meter { height: 6px; background: #8883; border-radius: 3px; margin-top: 0.4rem; overflow: hidden; }
.meter div { height: 100%; width: 0; background: #2a8; transition: width 0.2s; }
.charts { display: grid; grid-template-columns: repeat(auto-fit, minmax(20rem, 1fr)); gap: 0.75rem; }
figure { margin: 0; border: 1px solid #8884; border-radius: 6px; padding: 0.6rem 0.8rem; }
figcaption { font-size: 0.8rem; opacity: 0.8; margin-bottom: 0.3rem; }
svg { width: 100%; height: 120px; display: block; }
polyline { fill: none; stroke-width: 1.5; vector-effect: non-scaling-stroke; }
.throughput { stroke: #2a8; }
.wait, .wait-line { color: #d80; stroke: #d80; }
.run, .run-line { color: #37c; stroke: #37c; }
.p99 { stroke-dasharray: 4 3; }
table { border-collapse: collapse; width: 100%; font-size: 0.85rem; font-variant-numeric: tabular-nums; }
th, td { text-align: left; padding: 0.2rem 0.5rem; border-bottom: 1px solid #8883; }
td.state-failed, td.state-expired { color: #c33; }
td.state-succeeded { color: #2a8; }
`;

export const PAGE_SCRIPT = `'use strict';
const MAX_SAMPLES = 600;
let samples = [];
const byId = (id) => document.getElementById(id);
const text = (id, value) => { byId(id).textContent = String(value); };
const round = (value) => (value >= 100 ? Math.round(value) : Math.round(value * 10) / 10);

function line(svg, values, max, className) {
  const polyline = document.createElementNS('http://www.w3.org/2000/svg', 'polyline');
  const step = values.length > 1 ? 600 / (values.length - 1) : 0;
  polyline.setAttribute('points', values.map((value, i) => (i * step).toFixed(1) + ',' + (120 - (max > 0 ? (value / max) * 115 : 0)).toFixed(1)).join(' '));
  polyline.setAttribute('class', className);
  svg.appendChild(polyline);
}

function renderCharts() {
  const throughput = samples.map((sample) => sample.throughput);
  const throughputMax = Math.max(1, ...throughput);
  const chart = byId('throughput-chart');
  chart.replaceChildren();
  line(chart, throughput, throughputMax, 'throughput');
  text('throughput-max', round(throughputMax));
  const series = [['waitP50', 'wait-line'], ['waitP99', 'wait-line p99'], ['runP50', 'run-line'], ['runP99', 'run-line p99']];
  const latencyMax = Math.max(1, ...samples.flatMap((sample) => series.map(([key]) => sample[key])));
  const latency = byId('latency-chart');
  latency.replaceChildren();
  for (const [key, className] of series) line(latency, samples.map((sample) => sample[key]), latencyMax, className);
  text('latency-max', round(latencyMax));
}

function renderSample(sample) {
  for (const key of ['queued', 'capacity', 'running', 'threads', 'blocked', 'scheduled', 'succeeded', 'failed', 'cancelled', 'expired', 'retried']) text(key, sample[key]);
  text('throughput', round(sample.throughput));
  text('wait-p50', round(sample.waitP50));
  text('wait-p99', round(sample.waitP99));
  text('run-p50', round(sample.runP50));
  text('run-p99', round(sample.runP99));
  byId('table-fill').style.width = (sample.capacity > 0 ? (100 * sample.queued) / sample.capacity : 0) + '%';
  byId('threads-busy').style.width = 100 * sample.utilization + '%';
}

function renderJobs(jobs) {
  const rows = jobs.slice().reverse().map((job) => {
    const row = document.createElement('tr');
    row.dataset.id = job.id;
    const cells = [job.id, job.task, job.state, job.attempt, job.durationMs === null ? '' : round(job.durationMs), job.error ?? ''];
    cells.forEach((value, i) => {
      const cell = document.createElement('td');
      cell.textContent = String(value);
      if (i === 2) cell.className = 'state-' + job.state;
      row.appendChild(cell);
    });
    return row;
  });
  byId('jobs').replaceChildren(...rows);
}

const source = new EventSource('events');
source.addEventListener('open', () => text('status', 'live'));
source.addEventListener('error', () => text('status', 'reconnecting…'));
source.addEventListener('history', (event) => {
  const data = JSON.parse(event.data);
  samples = data.samples;
  if (samples.length > 0) renderSample(samples[samples.length - 1]);
  renderCharts();
  renderJobs(data.jobs);
});
source.addEventListener('sample', (event) => {
  // A sample is proof of a live stream, whatever an earlier 'error' said.
  text('status', 'live');
  const data = JSON.parse(event.data);
  samples.push(data.sample);
  if (samples.length > MAX_SAMPLES) samples.splice(0, samples.length - MAX_SAMPLES);
  renderSample(data.sample);
  renderCharts();
  renderJobs(data.jobs);
});
`;
