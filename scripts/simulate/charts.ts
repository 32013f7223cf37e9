/**
 * The simulation's two charts as plain SVG strings, drawn by hand (a line chart and an interval
 * chart need a few dozen lines, not a charting library). Pure: data in, markup out.
 * @module
 */

export interface Series {
  label: string;
  color: string;
  /** Points in data units; drawn as a polyline in order. */
  points: readonly (readonly [number, number])[];
  dashed?: boolean;
  /** Drawn thin and pale, without a legend entry (e.g. single runs behind their mean). */
  thin?: boolean;
}

const WIDTH = 640;
const HEIGHT = 360;
const MARGIN = { top: 40, right: 20, bottom: 48, left: 64 };

function escapeXml(text: string): string {
  return text.replaceAll("&", "&amp;").replaceAll("<", "&lt;").replaceAll(">", "&gt;").replaceAll('"', "&quot;");
}

/** Round, readable tick values covering [low, high]. */
export function ticks(low: number, high: number, count = 5): number[] {
  const span = high - low;
  if (!(span > 0) || !Number.isFinite(span)) return [low];
  const raw = span / count;
  const magnitude = 10 ** Math.floor(Math.log10(raw));
  const step = ([1, 2, 2.5, 5, 10].find((factor) => factor * magnitude >= raw) ?? 10) * magnitude;
  const values: number[] = [];
  for (let value = Math.ceil(low / step) * step; value <= high + step * 1e-9; value += step) values.push(Number(value.toPrecision(12)));
  return values;
}

function frame(title: string, xLabel: string, yLabel: string, body: string): string {
  return `<svg xmlns="http://www.w3.org/2000/svg" width="${WIDTH}" height="${HEIGHT}" viewBox="0 0 ${WIDTH} ${HEIGHT}" font-family="system-ui, sans-serif" font-size="12" role="img">
<title>${escapeXml(title)}</title>
<rect width="${WIDTH}" height="${HEIGHT}" fill="#fff"/>
<text x="${WIDTH / 2}" y="22" text-anchor="middle" font-size="15" font-weight="600">${escapeXml(title)}</text>
<text x="${MARGIN.left + (WIDTH - MARGIN.left - MARGIN.right) / 2}" y="${HEIGHT - 10}" text-anchor="middle">${escapeXml(xLabel)}</text>
<text transform="translate(16 ${MARGIN.top + (HEIGHT - MARGIN.top - MARGIN.bottom) / 2}) rotate(-90)" text-anchor="middle">${escapeXml(yLabel)}</text>
${body}
</svg>
`;
}

/** A line chart: one polyline per series, axes with ticks, a legend at the top left. */
export function lineChart(options: { title: string; xLabel: string; yLabel: string; series: readonly Series[] }): string {
  const all = options.series.flatMap((series) => series.points);
  const xMax = Math.max(1e-9, ...all.map(([x]) => x));
  const yMax = Math.max(1e-9, ...all.map(([, y]) => y));
  const plotWidth = WIDTH - MARGIN.left - MARGIN.right;
  const plotHeight = HEIGHT - MARGIN.top - MARGIN.bottom;
  const px = (x: number) => MARGIN.left + (x / xMax) * plotWidth;
  const py = (y: number) => MARGIN.top + plotHeight - (y / yMax) * plotHeight;
  const parts: string[] = [];
  for (const tick of ticks(0, yMax)) {
    parts.push(
      `<line x1="${MARGIN.left}" x2="${MARGIN.left + plotWidth}" y1="${py(tick).toFixed(1)}" y2="${py(tick).toFixed(1)}" stroke="#e5e5e5"/>`,
    );
    parts.push(`<text x="${MARGIN.left - 6}" y="${(py(tick) + 4).toFixed(1)}" text-anchor="end">${tick}</text>`);
  }
  for (const tick of ticks(0, xMax)) {
    parts.push(`<text x="${px(tick).toFixed(1)}" y="${MARGIN.top + plotHeight + 16}" text-anchor="middle">${tick}</text>`);
  }
  parts.push(
    `<polyline points="${MARGIN.left},${MARGIN.top} ${MARGIN.left},${MARGIN.top + plotHeight} ${MARGIN.left + plotWidth},${MARGIN.top + plotHeight}" fill="none" stroke="#333"/>`,
  );
  let legendRow = 0;
  for (const series of options.series) {
    const points = series.points.map(([x, y]) => `${px(x).toFixed(1)},${py(y).toFixed(1)}`).join(" ");
    const dash = series.dashed === true ? ' stroke-dasharray="5 4"' : "";
    const width = series.thin === true ? 1 : 2.5;
    parts.push(`<polyline points="${points}" fill="none" stroke="${series.color}" stroke-width="${width}"${dash}/>`);
    if (series.thin === true || series.label === "") continue;
    const legendY = MARGIN.top + 8 + legendRow++ * 16;
    parts.push(
      `<line x1="${MARGIN.left + 10}" x2="${MARGIN.left + 30}" y1="${legendY}" y2="${legendY}" stroke="${series.color}" stroke-width="2.5"${dash}/>`,
    );
    parts.push(`<text x="${MARGIN.left + 36}" y="${legendY + 4}">${escapeXml(series.label)}</text>`);
  }
  return frame(options.title, options.xLabel, options.yLabel, parts.join("\n"));
}

export interface IntervalRow {
  label: string;
  estimate: number;
  low: number;
  high: number;
  /** The true value, drawn as a diamond. */
  truth?: number;
}

/** Horizontal intervals (one row each) with their estimate and the true value, and a zero line. */
export function intervalChart(options: {
  title: string;
  xLabel: string;
  rows: readonly IntervalRow[];
  format: (value: number) => string;
}): string {
  const values = options.rows.flatMap((row) => [row.low, row.high, row.truth ?? row.estimate, 0]);
  const pad = (Math.max(...values) - Math.min(...values)) * 0.1 || 0.01;
  const xMin = Math.min(...values) - pad;
  const xMax = Math.max(...values) + pad;
  const plotWidth = WIDTH - MARGIN.left - MARGIN.right - 100;
  const left = MARGIN.left + 100;
  const px = (x: number) => left + ((x - xMin) / (xMax - xMin)) * plotWidth;
  // Below the legend, one row per interval.
  const top = MARGIN.top + 16;
  const rowHeight = (HEIGHT - top - MARGIN.bottom) / Math.max(1, options.rows.length);
  const parts: string[] = [];
  for (const tick of ticks(xMin, xMax)) {
    parts.push(
      `<line x1="${px(tick).toFixed(1)}" x2="${px(tick).toFixed(1)}" y1="${MARGIN.top}" y2="${HEIGHT - MARGIN.bottom}" stroke="#e5e5e5"/>`,
    );
    parts.push(
      `<text x="${px(tick).toFixed(1)}" y="${HEIGHT - MARGIN.bottom + 16}" text-anchor="middle">${escapeXml(options.format(tick))}</text>`,
    );
  }
  parts.push(`<line x1="${px(0).toFixed(1)}" x2="${px(0).toFixed(1)}" y1="${MARGIN.top}" y2="${HEIGHT - MARGIN.bottom}" stroke="#333"/>`);
  options.rows.forEach((row, index) => {
    const y = top + rowHeight * (index + 0.5);
    parts.push(`<text x="${left - 8}" y="${(y + 4).toFixed(1)}" text-anchor="end">${escapeXml(row.label)}</text>`);
    parts.push(
      `<line x1="${px(row.low).toFixed(1)}" x2="${px(row.high).toFixed(1)}" y1="${y}" y2="${y}" stroke="#1f77b4" stroke-width="3"/>`,
    );
    for (const end of [row.low, row.high])
      parts.push(
        `<line x1="${px(end).toFixed(1)}" x2="${px(end).toFixed(1)}" y1="${y - 7}" y2="${y + 7}" stroke="#1f77b4" stroke-width="2"/>`,
      );
    parts.push(`<circle cx="${px(row.estimate).toFixed(1)}" cy="${y}" r="5" fill="#1f77b4"/>`);
    if (row.truth !== undefined) {
      const x = px(row.truth);
      parts.push(`<path d="M${x.toFixed(1)} ${y - 9} l7 9 l-7 9 l-7 -9 z" fill="none" stroke="#d62728" stroke-width="2"/>`);
    }
  });
  const legendY = MARGIN.top + 4;
  parts.push(
    `<circle cx="${left}" cy="${legendY}" r="4" fill="#1f77b4"/><text x="${left + 8}" y="${legendY + 4}">estimate and 95% interval</text>`,
  );
  parts.push(
    `<path d="M${left + 200} ${legendY - 6} l5 6 l-5 6 l-5 -6 z" fill="none" stroke="#d62728" stroke-width="2"/><text x="${left + 210}" y="${legendY + 4}">true value</text>`,
  );
  return frame(options.title, options.xLabel, "", parts.join("\n"));
}
