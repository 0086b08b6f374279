/**
 * A deterministic layout (pure): host boxes packed in rows, each holding its nodes in a small grid; nodes outside
 * any host (addresses off the fleet, hosts themselves, collapsed hosts) form one more block. Deterministic on
 * purpose: while the scrubber moves, a node stays where it was, so the eye follows what changes, and it costs O(n)
 * even at 500 nodes (a force layout is one click away for small maps).
 *
 * The layout also gives each host box its rectangle: the map draws host boxes as plain nodes of that size behind
 * their members rather than as Cytoscape compound parents, whose bookkeeping (ancestor walks and compound bounds on
 * every restyle) cost the most of a redraw at 500 nodes.
 */
import type { MapNode } from './model.js';

export interface Point { readonly x: number; readonly y: number }
export interface Box { readonly x1: number; readonly y1: number; readonly x2: number; readonly y2: number }

export interface Layout {
  /** Centre of every node that is not an unfolded host box. */
  readonly positions: ReadonlyMap<string, Point>;
  /** The rectangle of every unfolded host box (one with members on the map), around its members' cells. */
  readonly boxes: ReadonlyMap<string, Box>;
}

const CELL_W = 170;
const CELL_H = 90;
const GAP = 80;

export function gridLayout(nodes: readonly MapNode[]): Layout {
  const groups = new Map<string, MapNode[]>();
  for (const n of nodes) {
    if (n.kind === 'HOSTBOX') continue;
    const key = n.parent ?? '';
    const list = groups.get(key) ?? [];
    list.push(n);
    groups.set(key, list);
  }
  // A host box without members on the map (a collapsed host) is drawn as one node among the outside ones.
  for (const n of nodes) {
    if (n.kind !== 'HOSTBOX' || groups.has(n.id)) continue;
    const list = groups.get('') ?? [];
    list.push(n);
    groups.set('', list);
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
  const positions = new Map<string, Point>();
  const boxes = new Map<string, Box>();
  let x = 0;
  let y = 0;
  let rowH = 0;
  for (const b of blocks) {
    if (x > 0 && x + b.width > maxRow) { x = 0; y += rowH + GAP; rowH = 0; }
    b.sorted.forEach((n, i) => positions.set(n.id, { x: x + (i % b.cols) * CELL_W + CELL_W / 2, y: y + Math.floor(i / b.cols) * CELL_H + CELL_H / 2 }));
    if (b.key !== '') boxes.set(b.key, { x1: x, y1: y, x2: x + b.width, y2: y + b.height });
    x += b.width + GAP;
    rowH = Math.max(rowH, b.height);
  }
  return { positions, boxes };
}

/**
 * The box around a set of member centres, as gridLayout draws it: each member's cell (its title goes above). Used to
 * wrap host boxes around their members after a force layout moved them.
 */
export function boxAround(centres: readonly Point[]): Box | null {
  if (centres.length === 0) return null;
  const xs = centres.map((p) => p.x);
  const ys = centres.map((p) => p.y);
  return { x1: Math.min(...xs) - CELL_W / 2, y1: Math.min(...ys) - CELL_H / 2, x2: Math.max(...xs) + CELL_W / 2, y2: Math.max(...ys) + CELL_H / 2 };
}

/** Room above a host box for its title (drawn above the box, in the gap between rows). */
const TITLE = 24;

/** The model-space box the whole drawing covers: every node's cell and every host box with its title. Null when empty. */
export function layoutBox(layout: Layout): Box | null {
  let x1 = Infinity;
  let y1 = Infinity;
  let x2 = -Infinity;
  let y2 = -Infinity;
  for (const p of layout.positions.values()) {
    x1 = Math.min(x1, p.x - CELL_W / 2); y1 = Math.min(y1, p.y - CELL_H / 2); x2 = Math.max(x2, p.x + CELL_W / 2); y2 = Math.max(y2, p.y + CELL_H / 2);
  }
  for (const b of layout.boxes.values()) {
    x1 = Math.min(x1, b.x1); y1 = Math.min(y1, b.y1 - TITLE); x2 = Math.max(x2, b.x2); y2 = Math.max(y2, b.y2);
  }
  return Number.isFinite(x1) ? { x1, y1, x2, y2 } : null;
}

/** The zoom and pan that show `box` whole and centred in a viewport of `size`, `padding` pixels from its edges. */
export function fitViewport(box: Box | null, size: { width: number; height: number }, padding: number): { zoom: number; pan: Point } | null {
  const w = size.width - 2 * padding;
  const h = size.height - 2 * padding;
  if (!box || w <= 0 || h <= 0) return null;
  const zoom = Math.min(w / (box.x2 - box.x1), h / (box.y2 - box.y1));
  return { zoom, pan: { x: (size.width - zoom * (box.x1 + box.x2)) / 2, y: (size.height - zoom * (box.y1 + box.y2)) / 2 } };
}
