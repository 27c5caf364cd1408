/**
 * What each entry point loads at run time, read from the import graph of
 * the sources (#9): `ws-lifecycle` itself loads xstate, ws and pino and
 * none of the tools; each tool is its own subpath.
 */
import { readFileSync, readdirSync } from 'node:fs';
import { builtinModules } from 'node:module';
import { dirname, join, relative, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..');
const pkg = JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as { exports: Record<string, { import: string } | string> };

/** The source of a subpath export: `./dist/src/index.js` -> `src/index.ts`. */
function sourceOf(subpath: string): string {
  const target = pkg.exports[subpath] as { import: string };
  return relative('dist', target.import.slice(2)).replace(/\.js$/, '.ts');
}

/** Static value imports and re-exports of a file (`import type` and `export type` load nothing). */
function runtimeImports(file: string): string[] {
  const text = readFileSync(join(ROOT, file), 'utf8');
  const found: string[] = [];
  for (const match of text.matchAll(/^(?:import|export)\s+(?!type\b)(?:[^;'"]*?\sfrom\s+)?['"]([^'"]+)['"]/gm)) found.push(match[1]!);
  return found;
}

/** Every file and package an entry loads, following relative imports. */
function closure(entry: string): { files: Set<string>; packages: Set<string> } {
  const files = new Set<string>();
  const packages = new Set<string>();
  const visit = (file: string): void => {
    if (files.has(file)) return;
    files.add(file);
    for (const specifier of runtimeImports(file)) {
      if (specifier.startsWith('.')) visit(relative(ROOT, resolve(ROOT, dirname(file), specifier)).replace(/\.js$/, '.ts'));
      else packages.add(specifier.startsWith('@') ? specifier.split('/').slice(0, 2).join('/') : specifier.split('/')[0]!);
    }
  };
  visit(entry);
  return { files, packages };
}

const NODE = new Set([...builtinModules, ...builtinModules.map((name) => `node:${name}`)]);
const TOOLS = ['src/tools/chart/', 'src/tools/inspector/', 'src/tools/audit/', 'src/tools/conformance/', 'src/adapters/', 'src/tools/cli.ts', 'src/cluster/redis', 'src/metrics/', 'scripts/', 'test/', 'bench/'];

describe('entry points', () => {
  it('ws-lifecycle loads xstate, ws and pino, and no tool', () => {
    const { files, packages } = closure(sourceOf('.'));
    expect([...packages].filter((name) => !NODE.has(name)).sort()).toEqual(['pino', 'ws', 'xstate']);
    expect([...files].filter((file) => TOOLS.some((tool) => file.startsWith(tool)))).toEqual([]);
    // The reader follows re-exports: the entry reaches the binding and the machine.
    expect(files).toContain('src/core/connection.ts');
    expect(files).toContain('machines/connection.machine.ts');
  });

  it('ws-lifecycle/machine is the pure machine: xstate only', () => {
    const { files, packages } = closure(sourceOf('./machine'));
    expect([...packages]).toEqual(['xstate']);
    expect([...files]).toEqual(['machines/connection.machine.ts']);
  });

  it.each(['./audit', './charts', './inspector', './conformance', './http', './express', './fastify', './hono', './nest', './redis', './metrics'])(
    '%s loads no package but the runtime ones at import (an optional peer only when used: a missing one is a clear error then)',
    (subpath) => {
      const { packages } = closure(sourceOf(subpath));
      expect([...packages].filter((name) => !NODE.has(name) && !['pino', 'ws', 'xstate'].includes(name))).toEqual([]);
    }
  );

  it('ws-lifecycle/client runs in a browser: xstate and nothing of Node', () => {
    const { packages } = closure(sourceOf('./client'));
    expect([...packages]).toEqual(['xstate']);
  });

  it('machines/ do no I/O: no ws, no pino, no node built-ins', () => {
    for (const file of ['machines/connection.machine.ts', 'machines/session.machine.ts', 'machines/client.machine.ts', 'machines/node.machine.ts']) {
      expect(runtimeImports(file).filter((s) => !s.startsWith('.'))).toEqual(['xstate']);
    }
  });

  it('scripts, benchmarks and examples import nothing from test/', () => {
    const offenders: string[] = [];
    for (const dir of ['scripts', 'bench', 'examples']) {
      for (const file of readdirTs(dir)) {
        for (const specifier of readFileSync(join(ROOT, file), 'utf8').matchAll(/from\s+['"]([^'"]+)['"]/g)) {
          if (resolve(ROOT, dirname(file), specifier[1]!).startsWith(join(ROOT, 'test'))) offenders.push(`${file} -> ${specifier[1]}`);
        }
      }
    }
    expect(offenders).toEqual([]);
  });
});

function readdirTs(dir: string): string[] {
  return readdirSync(join(ROOT, dir), { recursive: true, encoding: 'utf8' })
    .filter((name) => name.endsWith('.ts'))
    .map((name) => join(dir, name));
}
