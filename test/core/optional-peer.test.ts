/** src/core/optional-peer.ts: a missing optional peer dependency is one error naming the package. */
import { describe, expect, it } from 'vitest';
import type * as WsModule from 'ws';
import { loadPeer } from '../../src/core/optional-peer.js';

describe('loadPeer', () => {
  it('loads an installed package', async () => {
    const ws = await loadPeer<typeof WsModule>('ws', 'the test');
    expect(typeof ws.WebSocketServer).toBe('function');
  });

  it('names the missing package, what needs it and how to install it', async () => {
    await expect(loadPeer('@ws-lifecycle/not-installed', 'SVG charts')).rejects.toThrow(
      'SVG charts needs the optional peer dependency @ws-lifecycle/not-installed: npm install @ws-lifecycle/not-installed'
    );
  });
});
