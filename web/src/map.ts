/**
 * The map: Cytoscape.js (canvas rendering, compound nodes for host boxes, built-in cose force layout). Redraws
 * are diffs applied in one batch, so a scrubber step touches only what changed.
 */
import cytoscape from 'cytoscape';
import type { Core, ElementDefinition, StylesheetJson } from 'cytoscape';
import { gridLayout } from './layout.js';
import type { MapModel } from './model.js';

export interface MapView {
  render(model: MapModel, fit: boolean): void;
  select(key: string | null): void;
  forceLayout(): void;
  onSelect(handler: (key: string | null) => void): void;
  readonly cy: Core;
}

const STYLE: StylesheetJson = [
  { selector: 'node', style: { label: 'data(label)', 'font-size': 11, 'text-valign': 'bottom', 'text-margin-y': 4, width: 22, height: 22, 'background-color': '#4c78a8', color: '#222', 'min-zoomed-font-size': 7 } },
  { selector: 'node.kind-address', style: { shape: 'diamond', 'background-color': '#9d9d9d' } },
  { selector: 'node.kind-host', style: { shape: 'round-rectangle', 'background-color': '#72b7b2' } },
  { selector: 'node.kind-container', style: { shape: 'hexagon', 'background-color': '#54a24b' } },
  { selector: 'node.hostbox', style: { shape: 'round-rectangle', 'background-color': '#f4f6f8', 'background-opacity': 1, 'border-color': '#8a99a8', 'border-width': 1.5, 'text-valign': 'top', 'text-halign': 'center', 'font-weight': 'bold', 'font-size': 13, padding: '18px' } },
  { selector: 'edge', style: { width: 'data(width)', 'curve-style': 'bezier', 'target-arrow-shape': 'triangle', 'line-color': '#4c78a8', 'target-arrow-color': '#4c78a8', label: 'data(label)', 'font-size': 9, 'text-rotation': 'autorotate', 'text-background-color': '#fff', 'text-background-opacity': 0.85, 'text-background-padding': '2px', 'min-zoomed-font-size': 8, 'arrow-scale': 0.8 } },
  { selector: 'edge.match-nat-resolved', style: { 'line-color': '#e45756', 'target-arrow-color': '#e45756', 'line-style': 'dashed', 'line-dash-pattern': [8, 4] } },
  { selector: 'edge.match-client-only', style: { 'line-color': '#b0b0b0', 'target-arrow-color': '#b0b0b0', 'line-style': 'dotted' } },
  { selector: 'edge.match-server-only', style: { 'line-color': '#b0b0b0', 'target-arrow-color': '#b0b0b0', 'line-style': 'dotted', 'source-arrow-shape': 'tee', 'source-arrow-color': '#b0b0b0' } },
  { selector: 'node.collapsed', style: { shape: 'round-rectangle', width: 60, height: 36, 'background-color': '#8a99a8', 'font-weight': 'bold' } },
  { selector: 'edge.merged', style: { 'line-style': 'solid', opacity: 0.8 } },
  { selector: '.new', style: { 'overlay-color': '#f58518', 'overlay-opacity': 0.25, 'overlay-padding': 6 } },
  { selector: 'edge.new', style: { 'line-color': '#f58518', 'target-arrow-color': '#f58518' } },
  { selector: '.gone', style: { opacity: 0.3, 'line-style': 'dashed' } },
  { selector: '.dim', style: { opacity: 0.2 } },
  { selector: 'node.hit', style: { 'border-color': '#f58518', 'border-width': 4 } },
  { selector: ':selected', style: { 'overlay-color': '#1f77b4', 'overlay-opacity': 0.3, 'overlay-padding': 8 } },
];

function elements(model: MapModel): ElementDefinition[] {
  return [
    ...model.nodes.map((n) => ({ group: 'nodes' as const, data: { id: n.id, label: n.label, ...(n.parent ? { parent: n.parent } : {}) }, classes: [...n.classes] })),
    ...model.edges.map((e) => ({ group: 'edges' as const, data: { id: e.id, source: e.source, target: e.target, label: e.label, width: e.width }, classes: [...e.classes] })),
  ];
}

export function createMap(container: HTMLElement): MapView {
  const cy = cytoscape({ container, style: STYLE, wheelSensitivity: 0.3, minZoom: 0.05, maxZoom: 3, textureOnViewport: true, hideEdgesOnViewport: false, boxSelectionEnabled: false });
  const handlers: Array<(key: string | null) => void> = [];
  const emit = (key: string | null): void => { for (const h of handlers) h(key); };
  cy.on('tap', 'node, edge', (ev) => {
    const id = String(ev.target.id());
    emit(id.startsWith('h:') && ev.target.isParent() ? null : id);
  });
  cy.on('tap', (ev) => { if (ev.target === cy) emit(null); });
  let firstRender = true;

  return {
    cy,
    onSelect: (h) => { handlers.push(h); },
    render(model, fit) {
      const defs = elements(model);
      const wanted = new Set(defs.map((d) => d.data.id as string));
      const positions = gridLayout(model.nodes);
      // Big maps draw straight edges: Bezier bundles of 2,000 edges cost most of a frame (Cytoscape's own advice).
      cy.style().selector('edge').style('curve-style', model.edges.length > 600 ? 'straight' : 'bezier').update();
      cy.batch(() => {
        cy.elements().filter((el) => !wanted.has(el.id())).remove();
        const added: ElementDefinition[] = [];
        // Parents first (defs list them first) so children can be attached to them.
        for (const d of defs) {
          const id = d.data.id as string;
          const el = cy.getElementById(id);
          if (el.nonempty()) {
            if (d.group === 'nodes' && (el.data('parent') ?? null) !== (d.data.parent ?? null)) {
              el.move({ parent: (d.data.parent as string | undefined) ?? null });
            }
            el.data(d.data);
            el.classes(d.classes as string[]);
          } else {
            added.push({ ...d, ...(d.group === 'nodes' && positions.has(id) ? { position: { ...positions.get(id)! } } : {}) });
          }
        }
        // One add for every new element: per-element adds re-index the collection each time.
        if (added.length > 0) cy.add(added);
        cy.nodes().forEach((n) => {
          const p = positions.get(n.id());
          if (p && !n.isParent()) n.position({ ...p });
        });
      });
      if ((fit || firstRender) && defs.length > 0) {
        cy.fit(undefined, 30);
        firstRender = false;
      }
    },
    select(key) {
      cy.$(':selected').unselect();
      if (key) cy.getElementById(key).select();
    },
    forceLayout() {
      cy.layout({ name: 'cose', animate: false, nodeDimensionsIncludeLabels: true, randomize: false, fit: true, padding: 30 } as cytoscape.LayoutOptions).run();
    },
  };
}
