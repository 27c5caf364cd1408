/** The SCXML chart parsed back as XML, nested as the machine, and compared with `readChart()`. */
import { XMLParser, XMLValidator } from 'fast-xml-parser';
import { describe, expect, it } from 'vitest';
import { CHART_CASES } from './charts.js';

type Element = Record<string, unknown>;
const LISTS = new Set(['state', 'final', 'transition', 'send', 'cancel', 'data']);

function list(element: Element | undefined, name: string): Element[] {
  return (element?.[name] as Element[] | undefined) ?? [];
}

/** Every <state> and <final> element with its parent's id, depth first. */
function flatten(element: Element, parent: string | undefined): Array<{ id: string; parent: string | undefined; element: Element; final: boolean }> {
  return [...list(element, 'state').map((e) => [e, false] as const), ...list(element, 'final').map((e) => [e, true] as const)].flatMap(([e, final]) => [
    { id: e['@id'] as string, parent, element: e, final },
    ...flatten(e, e['@id'] as string)
  ]);
}

describe.each(CHART_CASES)('the SCXML of the $name machine', ({ name, chart, render }) => {
  const parse = async () => {
    const text = await render('scxml');
    const parser = new XMLParser({ ignoreAttributes: false, attributeNamePrefix: '@', isArray: (tag) => LISTS.has(tag) });
    return { text, scxml: (parser.parse(text) as { scxml: Element }).scxml };
  };

  it('is well-formed XML in the SCXML namespace, starting in the initial state', async () => {
    const { text, scxml } = await parse();
    expect(XMLValidator.validate(text)).toBe(true);
    expect(scxml['@xmlns']).toBe('http://www.w3.org/2005/07/scxml');
    expect(scxml['@name']).toBe(name);
    expect(scxml['@initial']).toBe(chart.find((s) => s.initial && s.parent === undefined)!.id);
  });

  it('nests a <state> per state (<final> for final ones) inside its parent, each parent naming its initial child', async () => {
    const { scxml } = await parse();
    const states = flatten(scxml, undefined);
    expect(states.map((s) => [s.id, s.parent, s.final])).toEqual(
      expect.arrayContaining(chart.map((s) => [s.id, s.parent, s.final]))
    );
    expect(states).toHaveLength(chart.length);
    for (const state of states.filter((s) => chart.some((c) => c.parent === s.id))) {
      expect(state.element['@initial']).toBe(chart.find((c) => c.parent === state.id && c.initial)!.id);
    }
  });

  it('has every transition with its event, guard and target, in order, and arms each delay on entry', async () => {
    const { scxml } = await parse();
    const states = flatten(scxml, undefined);
    for (const state of chart.filter((s) => !s.final)) {
      const element = states.find((s) => s.id === state.id)!.element;
      const actual = list(element, 'transition').map((t) => ({ event: t['@event'], cond: t['@cond'], target: t['@target'] }));
      expect(actual, state.id).toEqual(state.transitions.map((t) => ({ event: t.event.replace(' ', '.'), cond: t.guard, target: t.target })));
      const delays = [...new Set(state.transitions.flatMap((t) => (t.delay === undefined ? [] : [t.delay])))];
      const sends = list(element.onentry as Element | undefined, 'send');
      expect(sends.map((s) => [s['@event'], s['@delayexpr']]), state.id).toEqual(delays.map((d) => [`after.${d}`, d]));
      expect(list(element.onexit as Element | undefined, 'cancel').map((c) => c['@sendid'])).toEqual(sends.map((s) => s['@id']));
    }
  });
});
