/**
 * The inspector page's browser script, kept as plain JavaScript text so it
 * is inlined as written (no transpiler helpers can leak into it). It writes
 * the live numbers where the server marked them on each chart, reads
 * snapshots from the WebSocket named by `<body data-ws>` (passing on the
 * page's `?token=`) and only ever writes `textContent`, so user ids and
 * topic names cannot inject markup.
 */

/**
 * `formatCount(n)`: a count in at most `COUNT_WIDTH` (6) characters, the
 * room Graphviz keeps for it: digits up to 999999, then 1.0M, 99.9M, 999M,
 * 1.0G and so on.
 */
export const FORMAT_COUNT = `function formatCount(n) {
  if (n < 1e6) return String(n);
  let value = n / 1e6;
  let unit = 0;
  while (value >= 999.5 && unit < 4) {
    value /= 1000;
    unit++;
  }
  return (value < 99.95 ? value.toFixed(1) : value.toFixed(0)) + 'MGTPE'[unit];
}`;

export const PAGE_SCRIPT = `(() => {
  'use strict';
  ${FORMAT_COUNT}
  const $ = (id) => document.getElementById(id);
  const status = $('status');
  const pad = (n, w) => String(n).padStart(w, '0');
  const clock = (at) => {
    const d = new Date(at);
    return pad(d.getHours(), 2) + ':' + pad(d.getMinutes(), 2) + ':' + pad(d.getSeconds(), 2) + '.' + pad(d.getMilliseconds(), 3);
  };
  const cell = (text) => {
    const td = document.createElement('td');
    td.textContent = text;
    return td;
  };
  const row = (cells, className) => {
    const tr = document.createElement('tr');
    if (className) tr.className = className;
    tr.append(...cells.map(cell));
    return tr;
  };

  // What each chart shows of a snapshot: counts per state, counts per transition key, the state to point out.
  const views = {
    connection: (s) => ({ counts: s.counts, edges: s.edges }),
    session: (s) => ({ counts: s.sessions.counts, edges: s.sessions.edges }),
    node: (s) => {
      if (!s.cluster) return { counts: {}, edges: {} };
      let counts = null;
      if (s.cluster.nodes) {
        counts = {};
        for (const node of s.cluster.nodes) counts[node.state] = (counts[node.state] || 0) + 1;
      }
      return { counts, edges: {}, here: s.cluster.state };
    }
  };

  // The numbers the server marked on each chart: a state's count, and each event's on its arrow.
  const charts = [...document.querySelectorAll('figure[data-chart]')].map((figure) => ({
    view: views[figure.dataset.chart],
    states: [...figure.querySelectorAll('[data-count]')].map((count) => ({ count, g: count.closest('.node'), state: count.dataset.count })),
    edges: [...figure.querySelectorAll('g.edge')]
      .map((g) => ({ g, lines: [...g.querySelectorAll('[data-key]')].map((n) => ({ n, key: n.dataset.key })), seen: 0, timer: 0 }))
      .filter((edge) => edge.lines.length > 0)
  }));

  function flash(edge) {
    edge.g.classList.add('hot');
    clearTimeout(edge.timer);
    edge.timer = setTimeout(() => edge.g.classList.remove('hot'), 800);
  }

  function renderChart(chart, s) {
    const view = chart.view(s);
    for (const state of chart.states) {
      const n = view.counts === null ? null : view.counts[state.state] || 0;
      state.count.textContent = n === null ? '-' : formatCount(n);
      state.g.classList.toggle('busy', n !== null && n > 0);
      state.g.classList.toggle('here', state.state === view.here);
    }
    for (const edge of chart.edges) {
      let total = 0;
      for (const line of edge.lines) {
        const n = view.edges[line.key] || 0;
        line.n.textContent = formatCount(n);
        total += n;
      }
      if (total > edge.seen) flash(edge);
      edge.seen = total;
    }
  }

  function render(s) {
    for (const chart of charts) renderChart(chart, s);
    $('live').textContent = String(s.live);
    $('total').textContent = String(s.transitions);
    $('sessions').textContent = String(s.sessions.counts.attached + s.sessions.counts.detached);
    $('held').textContent = String(s.topics.held);
    $('updated').textContent = clock(s.at);
    $('topics').replaceChildren(...s.topics.busiest.map((t) =>
      row([t.topic, t.epoch ?? '?', t.offset == null ? '?' : String(t.offset), String(t.connections)])));
    $('topics-note').textContent = s.topics.held > s.topics.busiest.length
      ? 'The ' + s.topics.busiest.length + ' busiest of ' + s.topics.held + ' topics held here.'
      : s.topics.held + ' topics held here.';
    if (s.cluster && $('cluster')) {
      const c = s.cluster;
      $('node-id').textContent = c.nodeId;
      $('node-state').textContent = c.state;
      $('nodes').textContent = c.counts ? String(c.counts.nodes) : '?';
      $('cluster-users').textContent = c.counts ? String(c.counts.users) : '?';
      $('cluster-connections').textContent = c.counts ? String(c.counts.connections) : '?';
      $('cluster-error').textContent = c.error ? 'Last look failed: ' + c.error : '';
      $('node-list').replaceChildren(...(c.nodes || []).map((node) =>
        row([node.nodeId + (node.nodeId === c.nodeId ? ' (this node)' : ''), node.state])));
    }
    $('recent').replaceChildren(...s.recent.map((r) => {
      const close = r.code == null ? '' : r.code + (r.initiator ? ' ' + r.initiator : '') + (r.reason ? ' "' + r.reason + '"' : '');
      return row([clock(r.at), r.connectionId.slice(0, 8), r.userId ?? '', r.from + ' \\u2192 ' + r.to, r.event, close], 'to-' + r.to);
    }));
  }

  function connect() {
    const url = new URL(document.body.dataset.ws, location.href);
    url.protocol = url.protocol === 'https:' ? 'wss:' : 'ws:';
    // The page was let in with a token: its socket carries the same.
    const token = new URLSearchParams(location.search).get('token');
    if (token !== null) url.searchParams.set('token', token);
    const ws = new WebSocket(url);
    ws.onopen = () => { status.dataset.status = 'live'; status.textContent = 'live'; };
    ws.onmessage = (event) => render(JSON.parse(event.data));
    ws.onclose = () => {
      status.dataset.status = 'offline';
      status.textContent = 'disconnected, retrying';
      setTimeout(connect, 1000);
    };
  }
  connect();
})();`;
