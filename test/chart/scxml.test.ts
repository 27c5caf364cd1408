/** The SCXML chart parsed back as XML and compared with `readChart()`. */
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { XMLParser, XMLValidator } from 'fast-xml-parser';
import { beforeAll, describe, expect, it } from 'vitest';
import { readChart } from '../../src/machine-graph.js';

type Element = Record<string, unknown>;
const LISTS = new Set(['state', 'final', 'transition', 'send', 'cancel', 'data']);

let text: string;
let scxml: Element;

beforeAll(async () => {
  text = await readFile(join(import.meta.dirname, '..', '..', 'docs', 'connection.scxml'), 'utf8');
  const parser = new XMLParser({ ignoreAttributes: false, attributeNamePrefix: '@', isArray: (name) => LISTS.has(name) });
  scxml = (parser.parse(text) as { scxml: Element }).scxml;
});

function list(element: Element | undefined, name: string): Element[] {
  return (element?.[name] as Element[] | undefined) ?? [];
}

/** SCXML event descriptors are space-separated, so a delay's label is dotted. */
function scxmlEvent(label: string): string {
  return label.replace(' ', '.');
}

describe('docs/connection.scxml', () => {
  it('is well-formed XML in the SCXML namespace, starting in the initial state', () => {
    expect(XMLValidator.validate(text)).toBe(true);
    expect(scxml['@xmlns']).toBe('http://www.w3.org/2005/07/scxml');
    expect(scxml['@version']).toBe('1.0');
    expect(scxml['@initial']).toBe(readChart().find((s) => s.initial)!.name);
  });

  it('has a <state> per non-final state and a <final> per final one', () => {
    const chart = readChart();
    expect(list(scxml, 'state').map((s) => s['@id'])).toEqual(chart.filter((s) => !s.final).map((s) => s.name));
    expect(list(scxml, 'final').map((s) => s['@id'])).toEqual(chart.filter((s) => s.final).map((s) => s.name));
  });

  it('has every transition with its event, guard and target, and no other', () => {
    const states = list(scxml, 'state');
    for (const state of readChart().filter((s) => !s.final)) {
      const element = states.find((s) => s['@id'] === state.name);
      const actual = list(element, 'transition').map((t) => ({ event: t['@event'], cond: t['@cond'], target: t['@target'] }));
      const expected = state.transitions.map((t) => ({ event: scxmlEvent(t.event), cond: t.guard, target: t.target }));
      expect(actual, state.name).toEqual(expected);
    }
  });

  it('arms each delay on entry, cancels it on exit, and raises the event its transitions take', () => {
    const states = list(scxml, 'state');
    const declared = list(scxml.datamodel as Element, 'data').map((d) => d['@id']);
    for (const state of readChart()) {
      const delays = [...new Set(state.transitions.flatMap((t) => (t.delay === undefined ? [] : [t.delay])))];
      const element = states.find((s) => s['@id'] === state.name);
      const sends = list(element?.onentry as Element | undefined, 'send');
      const cancels = list(element?.onexit as Element | undefined, 'cancel');
      expect(sends.map((s) => [s['@event'], s['@delayexpr']]), state.name).toEqual(delays.map((d) => [`after.${d}`, d]));
      expect(cancels.map((c) => c['@sendid'])).toEqual(sends.map((s) => s['@id']));
      for (const delay of delays) expect(declared).toContain(delay);
    }
  });
});
