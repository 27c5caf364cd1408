/** The DOT graph and the SVG drawn from it show every state and transition. */
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { XMLValidator } from 'fast-xml-parser';
import { describe, expect, it } from 'vitest';
import { readChart } from '../../src/machine-graph.js';

const DOCS = join(import.meta.dirname, '..', '..', 'docs');

function label(t: { event: string; guard: string | undefined }): string {
  return t.guard === undefined ? t.event : `${t.event} [${t.guard}]`;
}

describe('docs/connection.dot and docs/connection.svg', () => {
  it('has an edge per transition with a target, delays dashed', async () => {
    const dot = await readFile(join(DOCS, 'connection.dot'), 'utf8');
    const edges = dot.split('\n').filter((line) => line.includes(' -> ') && !line.includes('__start'));
    const expected = readChart().flatMap((s) =>
      s.transitions
        .filter((t) => t.target !== undefined)
        .map((t) => `  "${t.source}" -> "${t.target}" [label="${label(t)}"${t.delay === undefined ? '' : ', style=dashed'}];`)
    );
    expect(edges).toEqual(expected);
  });

  it('is an SVG with a node per state and every edge label', async () => {
    const svg = await readFile(join(DOCS, 'connection.svg'), 'utf8');
    expect(XMLValidator.validate(svg)).toBe(true);
    expect(svg).toContain('xmlns="http://www.w3.org/2000/svg"');
    const nodes = [...svg.matchAll(/<g id="node\d+" class="node">\n<title>([^<]+)<\/title>/g)].map((m) => m[1]);
    expect(nodes.sort()).toEqual(['__start', ...readChart().map((s) => s.name)].sort());
    for (const state of readChart()) {
      for (const t of state.transitions.filter((t) => t.target !== undefined)) expect(svg).toContain(`>${label(t)}</text>`);
    }
  });
});
