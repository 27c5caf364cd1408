/**
 * What a browser made of a chart: every label (a `<text>`) and every box (a
 * state's group), measured where Chromium drew them, and each label that
 * meets a box or another label, sticks out of its own box, or leaves the
 * chart or its panel. Runs in the page; kept as text so no transpiler
 * helper leaks into it.
 */
import type { Page } from 'playwright-core';

export interface LayoutQuery {
  /** The charts: `svg.chart`. */
  charts: string;
  /** A state's group inside a chart: `g.node` (Graphviz), `g.state` (the hand-placed chart of before). */
  boxes: string;
  /** The panel around a chart: `figure`. */
  panel: string;
  /** Write this into every live number (`[data-count]`, `[data-key]`) first, in the same step, so no push can come between. */
  fill?: string;
}

const MEASURE = `(query) => {
  // Half a pixel: what rounding of two touching boxes may leave.
  const slack = 0.5;
  const rectOf = (el) => {
    const r = el.getBoundingClientRect();
    return { left: r.left, top: r.top, right: r.right, bottom: r.bottom };
  };
  const union = (rects) => rects.reduce((a, b) => ({
    left: Math.min(a.left, b.left), top: Math.min(a.top, b.top), right: Math.max(a.right, b.right), bottom: Math.max(a.bottom, b.bottom)
  }));
  const meet = (a, b) => a.left < b.right - slack && b.left < a.right - slack && a.top < b.bottom - slack && b.top < a.bottom - slack;
  const outside = (a, b) => [
    a.left < b.left - slack ? 'left' : '', a.right > b.right + slack ? 'right' : '',
    a.top < b.top - slack ? 'top' : '', a.bottom > b.bottom + slack ? 'bottom' : ''
  ].filter(Boolean).join(' and ');
  if (query.fill !== undefined) {
    for (const el of document.querySelectorAll('[data-count], [data-key]')) el.textContent = query.fill;
  }
  const problems = [];
  let labelCount = 0;
  let boxCount = 0;
  for (const svg of document.querySelectorAll(query.charts)) {
    const chart = svg.getAttribute('aria-label') || 'chart';
    const frame = rectOf(svg);
    const panel = rectOf(svg.closest(query.panel) || svg);
    const boxes = [...svg.querySelectorAll(query.boxes)].map((g) => ({
      g,
      name: g.getAttribute('data-state') || (g.querySelector('title') || {}).textContent || '?',
      rect: union([...g.querySelectorAll(':scope > path, :scope > polygon, :scope > rect, :scope > ellipse')].map(rectOf))
    }));
    const labels = [...svg.querySelectorAll('text')].filter((t) => t.textContent.trim() !== '').map((t) => ({
      text: t.textContent, rect: rectOf(t), owner: t.closest(query.boxes)
    }));
    labelCount += labels.length;
    boxCount += boxes.length;
    for (const label of labels) {
      const cut = outside(label.rect, frame) || outside(label.rect, panel);
      if (cut) problems.push(chart + ': "' + label.text + '" leaves the panel at the ' + cut);
      for (const box of boxes) {
        if (box.g === label.owner) {
          const out = outside(label.rect, box.rect);
          if (out) problems.push(chart + ': "' + label.text + '" sticks out of its box ' + box.name + ' at the ' + out);
        } else if (meet(label.rect, box.rect)) {
          problems.push(chart + ': "' + label.text + '" overlaps the box ' + box.name);
        }
      }
    }
    for (let i = 0; i < labels.length; i++) {
      for (let j = i + 1; j < labels.length; j++) {
        if (meet(labels[i].rect, labels[j].rect)) problems.push(chart + ': "' + labels[i].text + '" overlaps "' + labels[j].text + '"');
      }
    }
    for (let i = 0; i < boxes.length; i++) {
      const cut = outside(boxes[i].rect, frame) || outside(boxes[i].rect, panel);
      if (cut) problems.push(chart + ': the box ' + boxes[i].name + ' leaves the panel at the ' + cut);
      for (let j = i + 1; j < boxes.length; j++) {
        if (meet(boxes[i].rect, boxes[j].rect)) problems.push(chart + ': the box ' + boxes[i].name + ' overlaps the box ' + boxes[j].name);
      }
    }
  }
  return { problems, labels: labelCount, boxes: boxCount };
}`;

/**
 * Measure the charts of a page as Chromium drew them.
 *
 * @param {Page} page A loaded page
 * @param {LayoutQuery} query Where the charts, their boxes and their panels are
 * @returns What collides, as sentences naming the labels and boxes, and how many labels and boxes were measured
 */
export function chartLayout(page: Page, query: LayoutQuery): Promise<{ problems: string[]; labels: number; boxes: number }> {
  return page.evaluate(`(${MEASURE})(${JSON.stringify(query)})`);
}
