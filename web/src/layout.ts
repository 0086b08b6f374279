/**
 * A deterministic layout (pure): host boxes packed in rows, each holding its nodes in a small grid; nodes outside
 * any host (addresses off the fleet, hosts themselves) form one more block. Deterministic on purpose: while the
 * scrubber moves, a node stays where it was, so the eye follows what changes, and it costs O(n) even at 500 nodes
 * (a force layout is one click away for small maps).
 */
import type { MapNode } from './model.js';

export interface Point { readonly x: number; readonly y: number }

const CELL_W = 170;
const CELL_H = 90;
const GAP = 80;

export function gridLayout(nodes: readonly MapNode[]): Map<string, Point> {
  const groups = new Map<string, MapNode[]>();
  for (const n of nodes) {
    if (n.kind === 'HOSTBOX') continue;
    const key = n.parent ?? '';
    const list = groups.get(key) ?? [];
    list.push(n);
    groups.set(key, list);
  }
  const blocks = [...groups.entries()]
    .sort(([a], [b]) => (a === '' ? 1 : b === '' ? -1 : a.localeCompare(b)))
    .map(([key, members]) => {
      const sorted = [...members].sort((a, b) => a.label.localeCompare(b.label) || a.id.localeCompare(b.id));
      const cols = Math.max(1, Math.ceil(Math.sqrt(sorted.length)));
      const rows = Math.ceil(sorted.length / cols);
      return { key, sorted, cols, width: cols * CELL_W, height: rows * CELL_H };
    });
  const area = blocks.reduce((s, b) => s + (b.width + GAP) * (b.height + GAP), 0);
  const maxRow = Math.max(Math.sqrt(area) * 1.6, ...blocks.map((b) => b.width));
  const out = new Map<string, Point>();
  let x = 0;
  let y = 0;
  let rowH = 0;
  for (const b of blocks) {
    if (x > 0 && x + b.width > maxRow) { x = 0; y += rowH + GAP; rowH = 0; }
    b.sorted.forEach((n, i) => out.set(n.id, { x: x + (i % b.cols) * CELL_W + CELL_W / 2, y: y + Math.floor(i / b.cols) * CELL_H + CELL_H / 2 }));
    x += b.width + GAP;
    rowH = Math.max(rowH, b.height);
  }
  return out;
}
