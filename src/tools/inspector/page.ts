/**
 * The inspector's one HTML page: the state chart, the counts, the latest
 * transitions. Script and style are inline and pinned by hash in the
 * Content-Security-Policy, which also forbids loading anything else: the
 * page fetches nothing but its own WebSocket.
 */
import { createHash } from 'node:crypto';
import { renderChartSvg } from './chart-svg.js';
import { escapeHtml } from './escape.js';
import { PAGE_SCRIPT } from './page-script.js';

const STYLE = `
:root { color-scheme: light; font: 14px/1.4 system-ui, sans-serif; color: #1f2933; background: #f7f8fa; }
body { margin: 0 auto; padding: 20px 28px; max-width: 1180px; }
header { display: flex; align-items: baseline; gap: 16px; }
h1 { font-size: 20px; margin: 0; }
h2 { font-size: 15px; margin: 18px 0 6px; }
#status { font-size: 12px; padding: 2px 8px; border-radius: 10px; background: #e4e7eb; }
#status[data-status="live"] { background: #d1fadf; color: #05603a; }
#status[data-status="offline"] { background: #fee4e2; color: #b42318; }
.totals { display: flex; gap: 24px; margin: 10px 0 4px; color: #52606d; }
.totals b { color: #1f2933; font-variant-numeric: tabular-nums; }
figure { margin: 0; background: #fff; border: 1px solid #e4e7eb; border-radius: 8px; overflow-x: auto; }
figcaption { padding: 4px 14px 10px; font-size: 12px; color: #616e7c; }
.chart { display: block; max-width: 100%; height: auto; font-family: ui-monospace, monospace; }
.state rect { stroke-width: 2; }
.state .inner { fill: none; stroke-width: 1; }
.state-connecting rect { fill: #fff7e0; stroke: #d69e2e; }
.state-connected rect { fill: #e3f8ec; stroke: #2f855a; }
.state-closing rect { fill: #fff0e6; stroke: #dd6b20; }
.state-closed rect { fill: #eef0f3; stroke: #616e7c; }
.state .name { font-size: 14px; font-weight: 600; fill: #1f2933; }
.state .count { font-size: 30px; font-weight: 700; fill: #1f2933; }
.state .caption { font-size: 11px; fill: #616e7c; }
.edge path, .start-edge { fill: none; stroke: #9aa5b1; stroke-width: 1.5; transition: stroke 0.3s, stroke-width 0.3s; }
.edge.internal path { stroke-dasharray: 4 3; }
.edge.hot path { stroke: #2563eb; stroke-width: 3; }
.edge .label { font-size: 11px; fill: #3e4c59; }
.edge.hot .label { fill: #1d4ed8; }
.edge .n { font-weight: 700; fill: #2563eb; }
marker path, .start { fill: #7b8794; }
table { width: 100%; border-collapse: collapse; background: #fff; border: 1px solid #e4e7eb; font-size: 12px; }
th, td { text-align: left; padding: 3px 10px; border-bottom: 1px solid #f0f2f4; white-space: nowrap; }
th { background: #f0f2f4; font-weight: 600; }
td { font-family: ui-monospace, monospace; }
tr.to-connected td:nth-child(4) { color: #2f855a; }
tr.to-closing td:nth-child(4) { color: #dd6b20; }
tr.to-closed td:nth-child(4) { color: #616e7c; }
`;

/** The page and the header that must be sent with it. */
export interface InspectorPage {
  html: string;
  /** Content-Security-Policy: only the inline script and style, and the same-origin WebSocket. */
  csp: string;
}

function sha256(text: string): string {
  return `'sha256-${createHash('sha256').update(text).digest('base64')}'`;
}

/**
 * Build the inspector page.
 *
 * @param {string} wsPath Path of the inspector's WebSocket on the same origin
 * @returns {InspectorPage} The HTML and its Content-Security-Policy
 */
export function renderPage(wsPath: string): InspectorPage {
  const html = `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>ws-lifecycle inspector</title>
<link rel="icon" href="data:,">
<style>${STYLE}</style>
</head>
<body data-ws="${escapeHtml(wsPath)}">
<header><h1>ws-lifecycle inspector</h1><span id="status" data-status="connecting">connecting</span></header>
<div class="totals">
<span>live connections <b id="live">0</b></span>
<span>transitions seen <b id="total">0</b></span>
<span>updated <b id="updated">-</b></span>
</div>
<figure>${renderChartSvg()}
<figcaption>Boxes: connections in each state now (closed: all closed since the manager started). Numbers on arrows: transitions seen since the inspector started; an arrow flashes when one fires. Dashed: events handled without a change of state.</figcaption>
</figure>
<h2>Latest transitions</h2>
<table>
<thead><tr><th>time</th><th>connection</th><th>user</th><th>transition</th><th>event</th><th>close</th></tr></thead>
<tbody id="recent"></tbody>
</table>
<script>${PAGE_SCRIPT}</script>
</body>
</html>
`;
  const csp = [
    "default-src 'none'",
    `script-src ${sha256(PAGE_SCRIPT)}`,
    `style-src ${sha256(STYLE)}`,
    "connect-src 'self'",
    'img-src data:',
    "base-uri 'none'",
    "form-action 'none'"
  ].join('; ');
  return { html, csp };
}
