/** Without Graphviz the page still serves its numbers, and says what to install where the charts would be. */
import { describe, expect, it, vi } from 'vitest';
import { renderPage } from '../../../src/tools/inspector/page.js';

const MISSING = 'SVG charts needs the optional peer dependency @viz-js/viz: npm install @viz-js/viz';

vi.mock('../../../src/tools/chart/svg.js', () => ({ renderDot: () => Promise.reject(new Error(MISSING)) }));

describe('the inspector page without @viz-js/viz', () => {
  it('says what to install where each chart would be, and keeps the totals, topics and transitions', async () => {
    const { html } = await renderPage('/inspect/ws', true);
    expect(html.split(`<p class="missing">${MISSING}</p>`)).toHaveLength(4);
    expect(html).not.toContain('<figure data-chart=');
    for (const id of ['live', 'sessions', 'held', 'topics', 'recent', 'cluster', 'node-state']) expect(html).toContain(`id="${id}"`);
  });
});
