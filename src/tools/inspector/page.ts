/**
 * The inspector's one HTML page: the connection and session charts laid
 * out by Graphviz with their live counts, the busiest topics, the cluster
 * when there is one, and the latest transitions. Script and style are
 * inline and pinned by hash in the Content-Security-Policy, which also
 * forbids loading anything else: the page fetches nothing but its own
 * WebSocket.
 */
import { createHash } from 'node:crypto';
import { inspectorCharts } from './charts.js';
import { escapeHtml } from './escape.js';
import { renderLiveChart, type LiveChart } from './live-chart.js';
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
.totals { display: flex; flex-wrap: wrap; gap: 6px 24px; margin: 10px 0 4px; color: #52606d; }
.totals b { color: #1f2933; font-variant-numeric: tabular-nums; }
.columns { display: grid; grid-template-columns: auto minmax(0, 1fr); gap: 0 20px; align-items: start; }
figure { margin: 0; padding: 8px; background: #fff; border: 1px solid #e4e7eb; border-radius: 8px; }
figcaption { padding: 6px 6px 2px; font-size: 12px; color: #616e7c; }
.sessions figure { max-width: 420px; }
.missing { color: #b42318; font-size: 13px; }
.chart { display: block; max-width: 100%; height: auto; margin: 0 auto; }
.chart text { font-family: 'Liberation Mono', 'Courier New', Menlo, Consolas, 'DejaVu Sans Mono', monospace; fill: #3e4c59; }
.chart .node path, .chart .node polygon { fill: #fff; stroke: #9aa5b1; stroke-width: 1.5; }
.chart .node.busy path { fill: #e3f8ec; stroke: #2f855a; }
.chart .node.final path { fill: #eef0f3; stroke: #616e7c; }
.chart .node.here path { fill: #dbeafe; stroke: #2563eb; stroke-width: 3; }
.chart .node text { fill: #1f2933; }
.chart .node .count { font-weight: 700; }
.chart .edge path { stroke: #9aa5b1; stroke-width: 1.5; transition: stroke 0.3s, stroke-width 0.3s; }
.chart .edge polygon { fill: #7b8794; stroke: #7b8794; }
.chart .edge.hot path { stroke: #2563eb; stroke-width: 3; }
.chart .edge.hot text { fill: #1d4ed8; }
.chart .edge .n { font-weight: 700; fill: #2563eb; }
.facts { margin: 0 0 8px; color: #52606d; }
.facts b { color: #1f2933; }
table { width: 100%; border-collapse: collapse; background: #fff; border: 1px solid #e4e7eb; font-size: 12px; }
th, td { text-align: left; padding: 3px 10px; border-bottom: 1px solid #f0f2f4; white-space: nowrap; }
th { background: #f0f2f4; font-weight: 600; }
td { font-family: ui-monospace, monospace; }
.note { margin: 0 0 6px; font-size: 12px; color: #616e7c; }
tr.to-connected td:nth-child(4) { color: #2f855a; }
tr.to-closing td:nth-child(4) { color: #dd6b20; }
tr.to-closed td:nth-child(4) { color: #616e7c; }
`;

/** What each chart's caption says. */
const CAPTIONS: Readonly<Record<string, string>> = {
  connection:
    'Boxes: connections in each state now (closed: all closed since the manager started). Numbers on arrows: transitions seen since the inspector started; an arrow flashes when one fires. Events that keep a connection in its state are not recorded and not drawn.',
  session: 'Boxes: sessions in each state now (expired: since the inspector started). Numbers on arrows: transitions seen since the inspector started.',
  node: 'Boxes: nodes in each state, where the cluster lists them; this node\'s state is highlighted.'
};

const TITLES: Readonly<Record<string, string>> = { connection: 'Connection state chart', session: 'Session state chart', node: 'Node state chart' };

/** The page and the header that must be sent with it. */
export interface InspectorPage {
  html: string;
  /** Content-Security-Policy: only the inline script and style, and the same-origin WebSocket. */
  csp: string;
}

function sha256(text: string): string {
  return `'sha256-${createHash('sha256').update(text).digest('base64')}'`;
}

/** A chart in its panel; without Graphviz, the reason in its place (the numbers above still show). */
async function figure(chart: LiveChart): Promise<string> {
  const caption = `<figcaption>${escapeHtml(CAPTIONS[chart.name] ?? '')}</figcaption>`;
  try {
    const svg = await renderLiveChart(chart, TITLES[chart.name] ?? chart.name);
    return `<figure data-chart="${escapeHtml(chart.name)}">${svg}${caption}</figure>`;
  } catch (error) {
    return `<figure><p class="missing">${escapeHtml(error instanceof Error ? error.message : String(error))}</p>${caption}</figure>`;
  }
}

function table(id: string, headings: readonly string[]): string {
  return `<table><thead><tr>${headings.map((h) => `<th>${h}</th>`).join('')}</tr></thead><tbody id="${id}"></tbody></table>`;
}

/**
 * Build the inspector page. The charts are laid out here, by Graphviz
 * (`@viz-js/viz`); without it the page says so where they would be.
 *
 * @param {string} wsPath Path of the inspector's WebSocket on the same origin
 * @param {boolean} cluster Whether to show the cluster: the node chart and its counts
 * @returns {Promise<InspectorPage>} The HTML and its Content-Security-Policy
 */
export async function renderPage(wsPath: string, cluster: boolean): Promise<InspectorPage> {
  const [connections, sessions, node] = await Promise.all(inspectorCharts(cluster).map(figure));
  const clusterSection =
    node === undefined
      ? ''
      : `<section id="cluster"><h2>Cluster</h2>
<p class="facts">this node <b id="node-id">-</b> is <b id="node-state">-</b>; live nodes <b id="nodes">?</b>, users <b id="cluster-users">?</b>, connections <b id="cluster-connections">?</b> <span id="cluster-error"></span></p>
${node}
${table('node-list', ['node', 'state'])}
</section>`;
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
<span>sessions <b id="sessions">0</b></span>
<span>topics held <b id="held">0</b></span>
<span>updated <b id="updated">-</b></span>
</div>
<section><h2>Connections</h2>${connections}</section>
<div class="columns">
<section class="sessions"><h2>Sessions</h2>${sessions}</section>
<section><h2>Topics</h2><p class="note" id="topics-note">-</p>
${table('topics', ['topic', 'epoch', 'newest offset', 'connections'])}
</section>
</div>
${clusterSection}
<h2>Latest transitions</h2>
${table('recent', ['time', 'connection', 'user', 'transition', 'event', 'close'])}
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
