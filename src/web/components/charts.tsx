/**
 * Charts drawn on the server as SVG: no script, nothing for the CSP to allow, readable without
 * JavaScript and printable. Colours come from CSS classes (`.series-<name>` in app.css), so they
 * follow the light/dark theme. Every chart carries the table of its numbers for screen readers and
 * for people who would rather read than look.
 */

export interface ChartSeries {
  /** Class suffix and legend label: `pass` → `.series-pass`. */
  key: string;
  label: string;
  values: number[];
}

export interface StackedBarsProps {
  id: string;
  title: string;
  /** One label per bar (e.g. days), in order. */
  labels: string[];
  series: ChartSeries[];
  /** Unit for the table header and tooltips ("messages"). */
  unit: string;
  height?: number;
}

const WIDTH = 720;
const AXIS_LEFT = 48;
const AXIS_BOTTOM = 22;

/** Rounds up to a 1/2/5 × 10ⁿ step so axis labels are round numbers. */
export function niceMax(value: number): number {
  if (value <= 0) return 1;
  const power = 10 ** Math.floor(Math.log10(value));
  for (const step of [1, 2, 5, 10]) if (step * power >= value) return step * power;
  return 10 * power;
}

export function formatCount(value: number): string {
  if (value >= 1_000_000) return `${(value / 1_000_000).toFixed(value >= 10_000_000 ? 0 : 1)}M`;
  if (value >= 10_000) return `${Math.round(value / 1000)}k`;
  if (value >= 1000) return `${(value / 1000).toFixed(1)}k`;
  return String(value);
}

/** Daily (or any ordered) bars, each split into its series, with a value axis and a legend. */
export function StackedBars(props: StackedBarsProps) {
  const height = props.height ?? 220;
  const plotWidth = WIDTH - AXIS_LEFT;
  const plotHeight = height - AXIS_BOTTOM;
  const totals = props.labels.map((_, i) => props.series.reduce((sum, s) => sum + (s.values[i] ?? 0), 0));
  const max = niceMax(Math.max(0, ...totals));
  const slot = plotWidth / Math.max(1, props.labels.length);
  const barWidth = Math.max(1, slot * 0.8);
  const ticks = [0, max / 2, max];
  const labelEvery = Math.max(1, Math.ceil(props.labels.length / 8));
  const titleId = `${props.id}-title`;

  return (
    <figure class="chart" id={props.id}>
      <figcaption id={titleId}>{props.title}</figcaption>
      <svg viewBox={`0 0 ${WIDTH} ${height}`} role="img" aria-labelledby={titleId} preserveAspectRatio="none" class="chart-svg">
        {ticks.map((tick) => {
          const y = plotHeight - (tick / max) * plotHeight;
          return (
            <g class="chart-grid">
              <line x1={AXIS_LEFT} x2={WIDTH} y1={y} y2={y} />
              <text x={AXIS_LEFT - 6} y={Math.max(10, y + 4)} text-anchor="end">
                {formatCount(tick)}
              </text>
            </g>
          );
        })}
        {props.labels.map((label, i) => {
          let y = plotHeight;
          const x = AXIS_LEFT + i * slot + (slot - barWidth) / 2;
          return (
            <g>
              <title>{`${label}: ${props.series.map((s) => `${s.label} ${(s.values[i] ?? 0).toLocaleString('en')}`).join(', ')} ${props.unit}`}</title>
              {props.series.map((s) => {
                const value = s.values[i] ?? 0;
                const h = (value / max) * plotHeight;
                y -= h;
                return value > 0 ? <rect class={`series-${s.key}`} x={x} y={y} width={barWidth} height={h} /> : null;
              })}
              {i % labelEvery === 0 ? (
                <text class="chart-label" x={x + barWidth / 2} y={height - 6} text-anchor="middle">
                  {label}
                </text>
              ) : null}
            </g>
          );
        })}
      </svg>
      <ul class="chart-legend">
        {props.series.map((s) => (
          <li>
            <span class={`swatch series-${s.key}`} aria-hidden="true" />
            {s.label}
          </li>
        ))}
      </ul>
      <details class="chart-data">
        <summary>Show the numbers</summary>
        <table>
          <thead>
            <tr>
              <th scope="col">Date</th>
              {props.series.map((s) => (
                <th scope="col" class="num">
                  {s.label}
                </th>
              ))}
              <th scope="col" class="num">
                Total {props.unit}
              </th>
            </tr>
          </thead>
          <tbody>
            {props.labels.map((label, i) => (
              <tr>
                <th scope="row">{label}</th>
                {props.series.map((s) => (
                  <td class="num">{(s.values[i] ?? 0).toLocaleString('en')}</td>
                ))}
                <td class="num">{(totals[i] ?? 0).toLocaleString('en')}</td>
              </tr>
            ))}
          </tbody>
        </table>
      </details>
    </figure>
  );
}

/** A small trend line for a table cell; null values (no data that day) leave gaps, never zeros. */
export function Sparkline(props: { values: Array<number | null>; label: string; max?: number }) {
  const width = 96;
  const height = 24;
  const max = props.max ?? Math.max(1e-9, ...props.values.filter((v): v is number => v !== null));
  const step = props.values.length > 1 ? width / (props.values.length - 1) : width;
  const segments: string[] = [];
  let current = '';
  props.values.forEach((value, i) => {
    if (value === null) {
      if (current) segments.push(current);
      current = '';
      return;
    }
    const x = (i * step).toFixed(1);
    const y = (height - 2 - (value / max) * (height - 4)).toFixed(1);
    current += `${current ? 'L' : 'M'}${x} ${y}`;
  });
  if (current) segments.push(current);
  return (
    <svg class="sparkline" viewBox={`0 0 ${width} ${height}`} width={width} height={height} role="img" aria-label={props.label}>
      {segments.map((d) => (
        <path d={d} />
      ))}
    </svg>
  );
}
