/**
 * Which folder of src/ may import which (#19): the direction of every arrow
 * in docs/architecture.md, read from the sources. Type imports count too:
 * a folder that must not know another must not name its types either.
 */
import { readFileSync, readdirSync } from 'node:fs';
import { builtinModules } from 'node:module';
import { dirname, join, relative, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..');

/** A layer is a folder of src/ (or `index` for the runtime entry, `machines` for the pure machines). */
type Layer = 'index' | 'machines' | 'protocol' | 'core' | 'sessions' | 'manager' | 'cluster' | 'client' | 'adapters' | 'tools' | 'metrics';

/** What each layer may import besides itself. Everything else is a violation. */
export const ALLOWED: Readonly<Record<Layer, readonly Layer[]>> = {
  machines: [],
  protocol: [],
  core: ['machines'],
  sessions: ['core', 'protocol', 'machines'],
  manager: ['core', 'protocol', 'sessions', 'machines'],
  // The cluster implements interfaces the sessions (store, broker) and the manager (presence, Cluster) define.
  cluster: ['core', 'sessions', 'manager', 'machines'],
  client: ['protocol', 'machines'],
  adapters: ['manager', 'core', 'protocol'],
  tools: ['core', 'manager', 'sessions', 'protocol', 'machines'],
  // ws-lifecycle/metrics implements the probe the manager defines; no runtime folder imports it.
  metrics: ['core', 'manager', 'sessions', 'protocol', 'machines'],
  index: ['core', 'manager', 'sessions', 'protocol', 'machines']
};

/** Packages a layer may import; node built-ins are named `node`. Layers not listed may import what package.json allows. */
const PACKAGES: Partial<Record<Layer, readonly string[]>> = {
  machines: ['xstate'],
  protocol: [],
  client: ['xstate']
};

function layerOf(file: string): Layer | undefined {
  if (file === 'src/index.ts') return 'index';
  const [top, folder] = file.split('/');
  if (top === 'machines') return 'machines';
  if (top !== 'src') return undefined;
  return folder as Layer;
}

/** Every import and re-export of a file, type-only ones too. */
function importsOf(file: string): string[] {
  const text = readFileSync(join(ROOT, file), 'utf8');
  return [...text.matchAll(/^(?:import|export)\s[^;'"]*?\bfrom\s+['"]([^'"]+)['"]/gm)].map((match) => match[1]!);
}

const NODE = new Set([...builtinModules, ...builtinModules.map((name) => `node:${name}`)]);

/**
 * @param {Map<string, string[]>} graph Each file's import specifiers
 * @returns {string[]} Every import the layer table forbids, as `from -> to`
 */
export function layerViolations(graph: ReadonlyMap<string, readonly string[]>): string[] {
  const found: string[] = [];
  for (const [file, specifiers] of graph) {
    const from = layerOf(file);
    if (from === undefined) continue;
    for (const specifier of specifiers) {
      if (specifier.startsWith('.')) {
        const target = relative(ROOT, resolve(ROOT, dirname(file), specifier)).replace(/\.js$/, '.ts');
        const to = layerOf(target);
        if (to === undefined) found.push(`${file} -> ${target} (outside src/ and machines/)`);
        else if (to !== from && !ALLOWED[from].includes(to)) found.push(`${file} -> ${target} (${from} may not import ${to})`);
        continue;
      }
      const allowed = PACKAGES[from];
      const name = NODE.has(specifier) ? 'node' : specifier.startsWith('@') ? specifier.split('/').slice(0, 2).join('/') : specifier.split('/')[0]!;
      if (allowed !== undefined && !allowed.includes(name)) found.push(`${file} -> ${specifier} (${from} may not import ${name})`);
    }
  }
  return found;
}

function sources(): Map<string, string[]> {
  const graph = new Map<string, string[]>();
  for (const dir of ['src', 'machines']) {
    for (const name of readdirSync(join(ROOT, dir), { recursive: true, encoding: 'utf8' })) {
      if (name.endsWith('.ts')) graph.set(join(dir, name), importsOf(join(dir, name)));
    }
  }
  return graph;
}

describe('layers', () => {
  it('every file of src/ sits in a folder the table knows, or is the runtime entry', () => {
    const unknown = [...sources().keys()].filter((file) => {
      const layer = layerOf(file);
      return layer === undefined || !(layer in ALLOWED);
    });
    expect(unknown).toEqual([]);
  });

  it('no import goes against the table: the core knows no sessions or cluster, the client no Node, the runtime no tool', () => {
    expect(layerViolations(sources())).toEqual([]);
  });

  it('the check names each kind of breach', () => {
    const broken = new Map([
      ['src/core/connection.ts', ['../sessions/session-hub.js', 'ws']],
      ['src/client/session-client.ts', ['node:crypto', '../core/ids.js', 'xstate']],
      ['src/manager/connection-manager.ts', ['../tools/inspector/inspector.js', '../../test/support/server.js']],
      ['src/protocol/session-protocol.ts', ['pino']]
    ]);
    expect(layerViolations(broken)).toEqual([
      'src/core/connection.ts -> src/sessions/session-hub.ts (core may not import sessions)',
      'src/client/session-client.ts -> node:crypto (client may not import node)',
      'src/client/session-client.ts -> src/core/ids.ts (client may not import core)',
      'src/manager/connection-manager.ts -> src/tools/inspector/inspector.ts (manager may not import tools)',
      'src/manager/connection-manager.ts -> test/support/server.ts (outside src/ and machines/)',
      'src/protocol/session-protocol.ts -> pino (protocol may not import pino)'
    ]);
  });
});
