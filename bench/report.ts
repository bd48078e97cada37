/**
 * The results model and its two printed tables: measurements with ratios
 * to bare piscina, then the targets with met / not met.
 */
import { pairedRatios, summarize, type Summary } from './stats.js';

export type Column = 'piscina' | 'baozi' | 'main';

export interface Row {
  /** Stable key in the JSON. */
  id: string;
  section: string;
  metric: string;
  unit: string;
  /** Which direction is better, or `info` when neither is. */
  better: 'higher' | 'lower' | 'info';
  values: Partial<Record<Column, Summary>>;
  /** baozi ÷ piscina: the ratio of the medians, and the min–max of the per-repeat ratios. */
  ratio?: { ofMedians: number; paired: Summary };
  /** main thread ÷ piscina, the same way. */
  mainRatio?: { ofMedians: number; paired: Summary };
  /** Shown in place of values when the row has no measurement. */
  text?: string;
}

export type TargetStatus = 'met' | 'not met' | 'not implemented';

export interface Target {
  id: string;
  text: string;
  measured: string;
  status: TargetStatus;
}

/** A row of measurements; ratios are filled in from the paired samples. */
export function makeRow(
  fields: Omit<Row, 'values' | 'ratio' | 'mainRatio'>,
  samples: Partial<Record<Column, readonly number[] | undefined>>,
): Row {
  const values: Partial<Record<Column, Summary>> = {};
  for (const column of ['piscina', 'baozi', 'main'] as const) {
    const columnSamples = samples[column];
    if (columnSamples && columnSamples.length > 0) values[column] = summarize(columnSamples);
  }
  const row: Row = { ...fields, values };
  const ratioTo = (column: Column): Row['ratio'] => {
    const own = values[column];
    const piscina = values.piscina;
    if (!own || !piscina) return undefined;
    return { ofMedians: own.median / piscina.median, paired: summarize(pairedRatios(own.samples, piscina.samples)) };
  };
  const ratio = ratioTo('baozi');
  const mainRatio = ratioTo('main');
  if (ratio) row.ratio = ratio;
  if (mainRatio) row.mainRatio = mainRatio;
  return row;
}

export function formatValue(value: number, unit: string): string {
  if (!Number.isFinite(value)) return '–';
  switch (unit) {
    case 'jobs/s':
      return value >= 1e6 ? `${(value / 1e6).toFixed(2)}M` : value >= 1e3 ? `${(value / 1e3).toFixed(1)}k` : value.toFixed(0);
    case '%':
      return value.toFixed(1);
    case 'MB':
      return Math.abs(value) < 10 ? value.toFixed(2) : value.toFixed(1);
    case 'ns':
      return value.toFixed(0);
    case 'x':
      return value.toFixed(2);
    default: {
      const size = Math.abs(value);
      return size < 1 ? value.toFixed(3) : size < 10 ? value.toFixed(2) : size < 100 ? value.toFixed(1) : value.toFixed(0);
    }
  }
}

function cell(summary: Summary | undefined, unit: string): string {
  if (!summary) return '';
  if (summary.samples.length === 1) return formatValue(summary.median, unit);
  return `${formatValue(summary.median, unit)} (${formatValue(summary.min, unit)}–${formatValue(summary.max, unit)})`;
}

function ratioCell(ratio: Row['ratio']): string {
  if (!ratio) return '';
  const { ofMedians, paired } = ratio;
  if (paired.samples.length <= 1) return `${ofMedians.toFixed(2)}x`;
  return `${ofMedians.toFixed(2)}x (${paired.min.toFixed(2)}–${paired.max.toFixed(2)})`;
}

function layout(header: string[], lines: string[][]): string {
  const widths = header.map((title, i) => Math.max(title.length, ...lines.map((line) => (line[i] ?? '').length)));
  const render = (line: string[]): string =>
    line
      .map((text, i) => text.padEnd(widths[i]!))
      .join(' | ')
      .trimEnd();
  return [render(header), widths.map((width) => '-'.repeat(width)).join('-|-'), ...lines.map(render)].join('\n');
}

export function formatResults(rows: readonly Row[]): string {
  const header = ['metric', 'unit', 'better', 'piscina', 'baozi', 'baozi ÷ piscina', 'main thread', 'main ÷ piscina'];
  const lines: string[][] = [];
  let section = '';
  for (const row of rows) {
    if (row.section !== section) {
      section = row.section;
      lines.push([section, '', '', '', '', '', '', '']);
    }
    if (row.text !== undefined) {
      lines.push([`  ${row.metric}`, row.unit, row.better, '', row.text, '', '', '']);
      continue;
    }
    lines.push([
      `  ${row.metric}`,
      row.unit,
      row.better,
      cell(row.values.piscina, row.unit),
      cell(row.values.baozi, row.unit),
      ratioCell(row.ratio),
      cell(row.values.main, row.unit),
      ratioCell(row.mainRatio),
    ]);
  }
  return layout(header, lines);
}

export function formatTargets(targets: readonly Target[]): string {
  return layout(
    ['target', 'measured', 'status'],
    targets.map((target) => [target.text, target.measured, target.status]),
  );
}
