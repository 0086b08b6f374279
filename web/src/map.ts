/**
 * The map: Cytoscape.js (canvas rendering, built-in cose force layout). Host boxes are plain nodes sized and placed
 * by the layout behind their members (not compound parents: see layout.ts). Redraws are diffs applied in one
 * batch, so a scrubber step touches only what changed.
 */
import cytoscape from 'cytoscape';
import type { Core, ElementDefinition, NodeSingular, StylesheetJson } from 'cytoscape';
import { boxAround, fitViewport, gridLayout, layoutBox, type Box } from './layout.js';
import type { MapModel } from './model.js';

export interface MapView {
  render(model: MapModel, fit: boolean): void;
  select(key: string | null): void;
  forceLayout(): void;
  onSelect(handler: (key: string | null) => void): void;
  readonly cy: Core;
}

/** What the stylesheet depends on: edge curves (by map size) and whether edge labels are legible (by zoom). */
interface StyleOptions { readonly curve: 'straight' | 'bezier'; readonly edgeLabels: boolean }

const EDGE_FONT = 9;
const EDGE_MIN_FONT = 8;

/**
 * Edge labels legible at this zoom? Below it Cytoscape would not draw them (min-zoomed-font-size) but would still
 * measure and place every one of them on each restyle, which a scrubber step does for every edge whose count changed.
 */
const edgeLabelsAt = (zoom: number): boolean => zoom * EDGE_FONT >= EDGE_MIN_FONT;

const style = (o: StyleOptions): StylesheetJson => [
  // Host boxes are drawn first, then edges, then nodes: a box is a big node and would otherwise cover the edges.
  { selector: 'node, edge', style: { 'z-index-compare': 'manual', 'z-index': 2 } },
  { selector: 'node', style: { label: 'data(label)', 'font-size': 11, 'text-valign': 'bottom', 'text-margin-y': 4, width: 22, height: 22, 'background-color': '#4c78a8', color: '#222', 'min-zoomed-font-size': 7 } },
  { selector: 'node.kind-address', style: { shape: 'diamond', 'background-color': '#9d9d9d' } },
  { selector: 'node.kind-host', style: { shape: 'round-rectangle', 'background-color': '#72b7b2' } },
  { selector: 'node.kind-container', style: { shape: 'hexagon', 'background-color': '#54a24b' } },
  { selector: 'node.hostbox', style: { shape: 'round-rectangle', 'background-color': '#f4f6f8', 'background-opacity': 1, 'border-color': '#8a99a8', 'border-width': 1.5, 'text-valign': 'top', 'text-halign': 'center', 'text-margin-y': -4, 'font-weight': 'bold', 'font-size': 13, width: 'data(width)', height: 'data(height)', 'z-index': 0 } },
  { selector: 'edge', style: { 'z-index': 1, width: 'data(width)', 'curve-style': o.curve, 'target-arrow-shape': 'triangle', 'line-color': '#4c78a8', 'target-arrow-color': '#4c78a8', label: o.edgeLabels ? 'data(label)' : '', 'font-size': EDGE_FONT, 'text-rotation': 'autorotate', 'text-background-color': '#fff', 'text-background-opacity': 0.85, 'text-background-padding': '2px', 'min-zoomed-font-size': EDGE_MIN_FONT, 'arrow-scale': 0.8 } },
  { selector: 'edge.match-nat-resolved', style: { 'line-color': '#e45756', 'target-arrow-color': '#e45756', 'line-style': 'dashed', 'line-dash-pattern': [8, 4] } },
  { selector: 'edge.match-client-only', style: { 'line-color': '#b0b0b0', 'target-arrow-color': '#b0b0b0', 'line-style': 'dotted' } },
  { selector: 'edge.match-server-only', style: { 'line-color': '#b0b0b0', 'target-arrow-color': '#b0b0b0', 'line-style': 'dotted', 'source-arrow-shape': 'tee', 'source-arrow-color': '#b0b0b0' } },
  { selector: 'node.collapsed', style: { shape: 'round-rectangle', width: 60, height: 36, 'background-color': '#8a99a8', 'font-weight': 'bold', 'text-valign': 'bottom', 'text-margin-y': 4, 'z-index': 2 } },
  { selector: 'edge.merged', style: { 'line-style': 'solid', opacity: 0.8 } },
  { selector: '.new', style: { 'overlay-color': '#f58518', 'overlay-opacity': 0.25, 'overlay-padding': 6 } },
  { selector: 'edge.new', style: { 'line-color': '#f58518', 'target-arrow-color': '#f58518' } },
  { selector: '.gone', style: { opacity: 0.3, 'line-style': 'dashed' } },
  { selector: '.dim', style: { opacity: 0.2 } },
  { selector: 'node.hit', style: { 'border-color': '#f58518', 'border-width': 4 } },
  { selector: ':selected', style: { 'overlay-color': '#1f77b4', 'overlay-opacity': 0.3, 'overlay-padding': 8 } },
];

/** A host box's data: its size from the layout's rectangle (a collapsed host, without one, keeps its node size). */
function boxData(box: Box | undefined): Record<string, number> {
  return box ? { width: box.x2 - box.x1, height: box.y2 - box.y1 } : {};
}

const centre = (b: Box): { x: number; y: number } => ({ x: (b.x1 + b.x2) / 2, y: (b.y1 + b.y2) / 2 });

function elements(model: MapModel, boxes: ReadonlyMap<string, Box>): ElementDefinition[] {
  return [
    // `host` (not Cytoscape's `parent`): the host box a node is drawn in; always present so a change to null is seen.
    ...model.nodes.map((n) => ({ group: 'nodes' as const, data: { id: n.id, label: n.label, host: n.parent, ...boxData(boxes.get(n.id)) }, classes: [...n.classes] })),
    ...model.edges.map((e) => ({ group: 'edges' as const, data: { id: e.id, source: e.source, target: e.target, label: e.label, width: e.width }, classes: [...e.classes] })),
  ];
}

const FIT_PADDING = 30;

function sameData(have: Record<string, unknown>, want: Record<string, unknown>): boolean {
  for (const k of Object.keys(want)) if (have[k] !== want[k]) return false;
  return true;
}

function sameClasses(have: readonly string[], want: readonly string[]): boolean {
  return have.length === want.length && want.every((c) => have.includes(c));
}

export function createMap(container: HTMLElement): MapView {
  let current: StyleOptions = { curve: 'bezier', edgeLabels: true };
  const cy = cytoscape({ container, style: style(current), wheelSensitivity: 0.3, minZoom: 0.05, maxZoom: 3, textureOnViewport: true, hideEdgesOnViewport: false, boxSelectionEnabled: false });
  const handlers: Array<(key: string | null) => void> = [];
  const emit = (key: string | null): void => { for (const h of handlers) h(key); };
  cy.on('tap', 'node, edge', (ev) => {
    const id = String(ev.target.id());
    // An unfolded host box is a background: a tap on it clears the selection like a tap on the canvas.
    emit(ev.target.hasClass('hostbox') && !ev.target.hasClass('collapsed') ? null : id);
  });
  cy.on('tap', (ev) => { if (ev.target === cy) emit(null); });
  // Dragging a host box carries its members along (a compound parent did that by itself).
  let dragFrom: { x: number; y: number } | null = null;
  cy.on('grab', 'node.hostbox', (ev) => { dragFrom = { ...(ev.target as NodeSingular).position() }; });
  cy.on('drag', 'node.hostbox', (ev) => {
    const box = ev.target as NodeSingular;
    if (!dragFrom) return;
    const p = box.position();
    const delta = { x: p.x - dragFrom.x, y: p.y - dragFrom.y };
    dragFrom = { ...p };
    cy.nodes().filter((n) => n.data('host') === box.id()).shift(delta);
  });
  cy.on('free', 'node.hostbox', () => { dragFrom = null; });
  let firstRender = true;
  // The whole stylesheet is replaced when an option changes (appending rules would grow it on every zoom), which
  // re-styles every element: so only on a change.
  const restyle = (next: StyleOptions): void => {
    if (next.curve === current.curve && next.edgeLabels === current.edgeLabels) return;
    current = next;
    cy.style(style(next));
  };
  cy.on('zoom', () => restyle({ ...current, edgeLabels: edgeLabelsAt(cy.zoom()) }));

  return {
    cy,
    onSelect: (h) => { handlers.push(h); },
    render(model, fit) {
      const layout = gridLayout(model.nodes);
      const defs = elements(model, layout.boxes);
      const wanted = new Set(defs.map((d) => d.data.id as string));
      const place = (id: string): { x: number; y: number } | undefined => {
        const box = layout.boxes.get(id);
        return box ? centre(box) : layout.positions.get(id);
      };
      if ((fit || firstRender) && defs.length > 0) {
        // The viewport from the layout's own box, before any element is added or styled: cy.fit() would first style
        // and measure every element (seconds at 500 nodes), while the layout already knows where everything goes.
        const view = fitViewport(layoutBox(layout), { width: cy.width(), height: cy.height() }, FIT_PADDING);
        if (view) cy.viewport({ zoom: Math.min(cy.maxZoom(), Math.max(cy.minZoom(), view.zoom)), pan: view.pan });
        else cy.fit(undefined, FIT_PADDING);
        firstRender = false;
      }
      // Big maps draw straight edges: Bezier bundles of 2,000 edges cost most of a frame (Cytoscape's own advice).
      restyle({ curve: model.edges.length > 600 ? 'straight' : 'bezier', edgeLabels: edgeLabelsAt(cy.zoom()) });
      cy.batch(() => {
        cy.elements().filter((el) => !wanted.has(el.id())).remove();
        const added: ElementDefinition[] = [];
        for (const d of defs) {
          const id = d.data.id as string;
          const el = cy.getElementById(id);
          if (el.nonempty()) {
            // Only what changed: each data or class write re-styles the element and, for a node, its edges.
            if (!sameData(el.data() as Record<string, unknown>, d.data)) el.data(d.data);
            const classes = d.classes as string[];
            if (!sameClasses(el.classes(), classes)) el.classes(classes);
          } else {
            const at = d.group === 'nodes' ? place(id) : undefined;
            added.push({ ...d, ...(at ? { position: { ...at } } : {}) });
          }
        }
        // One add for every new element: per-element adds re-index the collection each time.
        if (added.length > 0) cy.add(added);
        // Moving a node re-projects all its edges: move only the nodes whose place changed.
        cy.nodes().forEach((n) => {
          const p = place(n.id());
          if (!p) return;
          const at = n.position();
          if (at.x !== p.x || at.y !== p.y) n.position({ ...p });
        });
      });
    },
    select(key) {
      cy.$(':selected').unselect();
      if (key) cy.getElementById(key).select();
    },
    forceLayout() {
      // The force layout places the nodes; each unfolded host box is then wrapped around where its members went.
      const boxes = cy.nodes('.hostbox[width]');
      const layout = cy.elements().not(boxes).layout({ name: 'cose', animate: false, nodeDimensionsIncludeLabels: true, randomize: false, fit: false, padding: 30 } as cytoscape.LayoutOptions);
      layout.one('layoutstop', () => {
        cy.batch(() => {
          boxes.forEach((b) => {
            const members: NodeSingular[] = cy.nodes().filter((n) => n.data('host') === b.id()).toArray() as NodeSingular[];
            const box = boxAround(members.map((n) => n.position()));
            if (!box) return;
            b.data(boxData(box));
            b.position(centre(box));
          });
        });
        cy.fit(undefined, FIT_PADDING);
      });
      layout.run();
    },
  };
}
