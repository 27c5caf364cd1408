/**
 * The inspector page's browser script, kept as plain JavaScript text so it
 * is inlined as written (no transpiler helpers can leak into it). It reads
 * snapshots from the WebSocket named by `<body data-ws>` (passing on the
 * page's `?token=`) and only ever
 * writes `textContent`, so user ids cannot inject markup.
 */
export const PAGE_SCRIPT = `(() => {
  'use strict';
  const $ = (id) => document.getElementById(id);
  const status = $('status');
  const counts = [...document.querySelectorAll('[data-count]')];
  const keyed = [...document.querySelectorAll('[data-key]')];
  const edges = [...document.querySelectorAll('.edge[data-keys]')]
    .map((g) => ({ g, keys: g.dataset.keys ? g.dataset.keys.split(',') : [], seen: 0, timer: 0 }));
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
  function flash(edge) {
    edge.g.classList.add('hot');
    clearTimeout(edge.timer);
    edge.timer = setTimeout(() => edge.g.classList.remove('hot'), 800);
  }
  function render(s) {
    for (const el of counts) el.textContent = String(s.counts[el.dataset.count] ?? 0);
    for (const el of keyed) el.textContent = String(s.edges[el.dataset.key] ?? 0);
    for (const edge of edges) {
      const total = edge.keys.reduce((sum, key) => sum + (s.edges[key] ?? 0), 0);
      if (total > edge.seen) flash(edge);
      edge.seen = total;
    }
    $('live').textContent = String(s.live);
    $('total').textContent = String(s.transitions);
    $('updated').textContent = clock(s.at);
    $('recent').replaceChildren(...s.recent.map((r) => {
      const tr = document.createElement('tr');
      tr.className = 'to-' + r.to;
      const close = r.code == null ? '' : r.code + (r.initiator ? ' ' + r.initiator : '') + (r.reason ? ' "' + r.reason + '"' : '');
      tr.append(cell(clock(r.at)), cell(r.connectionId.slice(0, 8)), cell(r.userId ?? ''),
        cell(r.from + ' \\u2192 ' + r.to), cell(r.event), cell(close));
      return tr;
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
