/**
 * The small traffic chart above the scrubber: bytes per step as bars, connections as a line, the stretches where
 * some host sent no snapshots ("no data", from the completeness records) hatched, so they never read as
 * "no traffic"; the scrubbed step highlighted.
 */
import { num } from './model.js';
import type { TrafficPoint } from './types.js';

export interface ChartInput {
  readonly from: number;
  readonly to: number;
  readonly stepMs: number;
  readonly points: readonly TrafficPoint[];
  readonly gaps: ReadonlyArray<{ from: number; to: number }>;
  readonly cursor: { from: number; to: number } | null;
}

export function drawChart(canvas: HTMLCanvasElement, input: ChartInput): void {
  const ratio = window.devicePixelRatio || 1;
  const width = canvas.clientWidth;
  const height = canvas.clientHeight;
  canvas.width = Math.max(1, Math.round(width * ratio));
  canvas.height = Math.max(1, Math.round(height * ratio));
  const g = canvas.getContext('2d');
  if (!g) return;
  g.setTransform(ratio, 0, 0, ratio, 0, 0);
  g.clearRect(0, 0, width, height);
  const span = input.to - input.from;
  const xOf = (t: number): number => ((t - input.from) / span) * width;
  g.fillStyle = 'rgba(120,120,120,0.25)';
  for (const gap of input.gaps) {
    const x0 = Math.max(0, xOf(gap.from));
    const x1 = Math.min(width, xOf(gap.to));
    for (let x = x0 - height; x < x1; x += 6) {
      g.beginPath();
      g.moveTo(Math.max(x0, x), Math.min(height, x0 > x ? height - (x0 - x) : height));
      g.lineTo(Math.min(x1, x + height), Math.max(0, x + height > x1 ? x + height - x1 : 0));
      g.strokeStyle = 'rgba(120,120,120,0.35)';
      g.stroke();
    }
  }
  const bytes = input.points.map((p) => num(p.bytesSent) + num(p.bytesReceived));
  const conns = input.points.map((p) => num(p.connections));
  const maxB = Math.max(1, ...bytes);
  const maxC = Math.max(1, ...conns);
  const barW = Math.max(1, (input.stepMs / span) * width - 1);
  g.fillStyle = '#4c78a8';
  input.points.forEach((p, i) => {
    const h = (bytes[i]! / maxB) * (height - 4);
    g.fillRect(xOf(Date.parse(p.time)), height - h, barW, h);
  });
  g.strokeStyle = '#f58518';
  g.lineWidth = 1.5;
  g.beginPath();
  input.points.forEach((p, i) => {
    const x = xOf(Date.parse(p.time)) + barW / 2;
    const y = height - 2 - (conns[i]! / maxC) * (height - 6);
    if (i === 0) g.moveTo(x, y);
    else g.lineTo(x, y);
  });
  g.stroke();
  if (input.cursor) {
    g.fillStyle = 'rgba(31,119,180,0.18)';
    g.fillRect(xOf(input.cursor.from), 0, Math.max(2, xOf(input.cursor.to) - xOf(input.cursor.from)), height);
  }
}
