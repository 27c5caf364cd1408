/** The Mermaid page lists every state and every transition of `readChart()`. */
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { readChart } from '../../src/machine-graph.js';

let page: string;
let diagram: string[];

beforeAll(async () => {
  page = await readFile(join(import.meta.dirname, '..', '..', 'docs', 'connection.md'), 'utf8');
  const block = /```mermaid\n([\s\S]*?)\n```/.exec(page);
  diagram = (block?.[1] ?? '').split('\n').map((line) => line.trim());
});

function label(t: { event: string; guard: string | undefined }): string {
  return t.guard === undefined ? t.event : `${t.event} [${t.guard}]`;
}

describe('docs/connection.md', () => {
  it('holds one stateDiagram-v2 block with the initial and final states marked', () => {
    expect(page.match(/```mermaid/g)).toHaveLength(1);
    expect(diagram[0]).toBe('stateDiagram-v2');
    const chart = readChart();
    for (const state of chart.filter((s) => s.initial)) expect(diagram).toContain(`[*] --> ${state.name}`);
    for (const state of chart.filter((s) => s.final)) expect(diagram).toContain(`${state.name} --> [*]`);
  });

  it('names every state in the diagram', () => {
    const named = new Set(diagram.flatMap((line) => line.split(/\s+/)));
    for (const state of readChart()) expect(named, state.name).toContain(state.name);
  });

  it('draws every transition with a target, labelled with its event and guard, and nothing else', () => {
    const expected = readChart().flatMap((s) =>
      s.transitions.filter((t) => t.target !== undefined).map((t) => `${t.source} --> ${t.target} : ${label(t)}`)
    );
    const drawn = diagram.filter((line) => / --> /.test(line) && !line.includes('[*]'));
    expect(drawn).toEqual(expected);
  });

  it('notes every targetless transition on its state', () => {
    for (const state of readChart()) {
      const internal = state.transitions.filter((t) => t.target === undefined);
      if (internal.length === 0) continue;
      const start = diagram.indexOf(`note right of ${state.name}`);
      expect(start, state.name).toBeGreaterThan(0);
      const note = diagram.slice(start, diagram.indexOf('end note', start));
      for (const t of internal) expect(note).toContain(`${label(t)} / ${t.actions.join(', ')}`);
    }
  });

  it("notes every state's entry actions on it, and lists them in a table", () => {
    const chart = readChart();
    expect(chart.filter((s) => s.entry.length > 0).map((s) => s.name)).toEqual(['connected', 'closing', 'closed']);
    for (const state of chart) {
      expect(page).toContain(`| ${state.name} | ${state.entry.join(', ')} |`);
      if (state.entry.length === 0) continue;
      const start = diagram.indexOf(`note right of ${state.name}`);
      expect(start, state.name).toBeGreaterThan(0);
      expect(diagram.slice(start, diagram.indexOf('end note', start))).toContain(`entry / ${state.entry.join(', ')}`);
    }
  });

  it('has a table row for every transition', () => {
    for (const state of readChart()) {
      for (const t of state.transitions) {
        expect(page).toContain(`| ${t.source} | ${t.event} | ${t.guard ?? ''} | ${t.target ?? '(stays)'} | ${t.actions.join(', ')} |`);
      }
    }
  });
});
