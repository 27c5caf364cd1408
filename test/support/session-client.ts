/** A bare session-protocol client over ws, for tests: it records every frame and answers nothing by itself. */
import { WebSocket } from 'ws';
import { SESSION_PROTOCOL, type ServerFrame, type TopicCursor } from '../../src/protocol/session-protocol.js';
import { waitFor } from './server.js';

export interface SessionTestClient {
  ws: WebSocket;
  frames: ServerFrame[];
  closed: Promise<{ code: number; reason: string }>;
  hello(session?: string, topics?: Record<string, TopicCursor>, client?: string): void;
  /** Wait until a frame matching `predicate` has arrived; resolves with it. */
  next<T extends ServerFrame>(predicate: (frame: ServerFrame) => frame is T, what: string): Promise<T>;
  /** The data of the `message` frames of a topic, in arrival order. */
  messages(topic: string): Array<{ offset: number; data: unknown }>;
}

/** Open a session client as `user` (anonymous when `undefined`); resolves once the socket is open. */
export async function openSessionClient(port: number, user: string | undefined): Promise<SessionTestClient> {
  const query = user === undefined ? '' : `?user=${encodeURIComponent(user)}`;
  const ws = new WebSocket(`ws://127.0.0.1:${port}/${query}`, [SESSION_PROTOCOL]);
  const frames: ServerFrame[] = [];
  ws.on('message', (data) => frames.push(JSON.parse(data.toString()) as ServerFrame));
  ws.on('error', () => {});
  const closed = new Promise<{ code: number; reason: string }>((resolve) => ws.once('close', (code, reason) => resolve({ code, reason: reason.toString() })));
  await new Promise<void>((resolve, reject) => {
    ws.once('open', () => resolve());
    ws.once('error', reject);
  });
  return {
    ws,
    frames,
    closed,
    hello(session, topics, client) {
      ws.send(JSON.stringify({ type: 'hello', client, session, topics }));
    },
    async next(predicate, what) {
      await waitFor(() => frames.some(predicate), 5_000, what);
      return frames.find(predicate)!;
    },
    messages(topic) {
      return frames.flatMap((f) => (f.type === 'message' && f.topic === topic ? [{ offset: f.offset, data: f.data }] : []));
    }
  };
}

export const isWelcome = (frame: ServerFrame): frame is Extract<ServerFrame, { type: 'welcome' }> => frame.type === 'welcome';
export const recoveryOf =
  (topic: string) =>
    (frame: ServerFrame): frame is Extract<ServerFrame, { type: 'recovery' }> =>
      frame.type === 'recovery' && frame.topic === topic;
