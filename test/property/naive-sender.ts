/**
 * A deliberately naive sender, shaped like the code ws-lifecycle replaces:
 * a Map of sockets by id, and `ws.send` on whatever is in it, with no look
 * at the connection's state or the socket's readyState. It exists only so
 * the property tests can show that their checks catch such code.
 */
import { EventEmitter } from 'node:events';
import type { AddressInfo } from 'node:net';
import { WebSocketServer, type WebSocket } from 'ws';
import type { CloseInfo, ConnectionState, SendReport, SendResult } from '../../src/index.js';
import type { LifecycleSubject, SubjectConnection, SubjectFactory } from './subject.js';

interface Entry {
  ws: WebSocket;
  userId: string | undefined;
}

/** Sends to sockets it keeps in a Map until their 'close' event. */
export class NaiveSender extends EventEmitter<{ added: [id: string, ws: WebSocket] }> {
  readonly sockets = new Map<string, Entry>();
  #nextId = 0;

  /**
   * Keep every socket the server accepts, by id; the user comes from the
   * `user` query parameter.
   *
   * @param {WebSocketServer} wss The server
   */
  attach(wss: WebSocketServer): void {
    wss.on('connection', (ws, request) => {
      const id = `naive-${++this.#nextId}`;
      const userId = new URL(request.url ?? '/', 'http://127.0.0.1').searchParams.get('user') ?? undefined;
      this.sockets.set(id, { ws, userId });
      ws.on('close', () => this.sockets.delete(id));
      this.emit('added', id, ws);
    });
  }

  /**
   * Write one message as JSON text; rejects if ws reports an error.
   *
   * @param {string} id The socket's id
   * @param {unknown} message Any JSON value
   * @returns {Promise<void>} Once written
   */
  send(id: string, message: unknown): Promise<void> {
    const entry = this.sockets.get(id);
    if (!entry) return Promise.reject(new Error(`No socket with id ${id}`));
    return write(entry.ws, JSON.stringify(message));
  }

  /**
   * Write one message to every socket in the Map.
   *
   * @param {unknown} message Any JSON value
   * @returns {Promise<number>} How many sockets it was written to
   */
  async broadcast(message: unknown): Promise<number> {
    const text = JSON.stringify(message);
    const writes = [...this.sockets.values()].map((entry) => write(entry.ws, text));
    return (await Promise.all(writes)).length;
  }

  /**
   * Write one message to every socket of one user.
   *
   * @param {string} userId The user
   * @param {unknown} message Any JSON value
   * @returns {Promise<number>} How many sockets it was written to
   */
  async sendToUser(userId: string, message: unknown): Promise<number> {
    const text = JSON.stringify(message);
    const writes = [...this.sockets.values()].filter((entry) => entry.userId === userId).map((entry) => write(entry.ws, text));
    return (await Promise.all(writes)).length;
  }
}

function write(ws: WebSocket, text: string): Promise<void> {
  return new Promise((resolve, reject) => ws.send(text, (error) => (error ? reject(error) : resolve())));
}

/** The naive sender's connection, with the state a caller of it would assume. */
class NaiveConnection implements SubjectConnection {
  state: ConnectionState = 'connected';
  readonly closed: Promise<CloseInfo>;
  #closeCalled = false;

  constructor(
    readonly id: string,
    readonly userId: string | undefined,
    private readonly ws: WebSocket,
    private readonly sender: NaiveSender,
    private readonly moved: (id: string, from: ConnectionState, to: ConnectionState) => void
  ) {
    this.closed = new Promise((resolve) => {
      ws.once('close', (code, reason) => {
        this.#move('closed');
        resolve({ code, reason: reason.toString(), initiator: this.#closeCalled ? 'server' : 'peer' });
      });
    });
  }

  send(message: unknown): Promise<SendResult> {
    return this.sender.send(this.id, message).then(() => ({ ok: true }) as const);
  }

  close(code: number, reason: string): void {
    this.#closeCalled = true;
    this.ws.close(code, reason);
    if (this.state === 'connected') this.#move('closing');
  }

  terminate(): void {
    this.#closeCalled = true;
    this.ws.terminate();
  }

  #move(to: ConnectionState): void {
    const from = this.state;
    this.state = to;
    this.moved(this.id, from, to);
  }
}

/** The naive sender behind the same interface as the manager. */
export const naiveSubject: SubjectFactory = async () => {
  const wss = new WebSocketServer({ host: '127.0.0.1', port: 0 });
  await new Promise<void>((resolve) => wss.once('listening', resolve));
  const sender = new NaiveSender();
  const byId = new Map<string, NaiveConnection>();
  const bySocket = new WeakMap<WebSocket, NaiveConnection>();
  const listeners: Array<(id: string, from: ConnectionState, to: ConnectionState) => void> = [];
  const moved = (id: string, from: ConnectionState, to: ConnectionState): void => listeners.forEach((listener) => listener(id, from, to));
  sender.on('added', (id, ws) => {
    const connection = new NaiveConnection(id, sender.sockets.get(id)?.userId, ws, sender, moved);
    byId.set(id, connection);
    bySocket.set(ws, connection);
  });
  sender.attach(wss);
  const report = (count: Promise<number>): Promise<SendReport> => count.then((sent) => ({ sent, rejected: 0, reasons: {} }));
  const subject: LifecycleSubject = {
    wss,
    port: (wss.address() as AddressInfo).port,
    get size() {
      return sender.sockets.size;
    },
    userSize: (userId) => [...sender.sockets.values()].filter((entry) => entry.userId === userId).length,
    connectionOf: (ws) => bySocket.get(ws),
    send: (id, message) => byId.get(id)?.send(message) ?? Promise.reject(new Error(`No connection with id ${id}`)),
    broadcast: (message) => report(sender.broadcast(message)),
    sendToUser: (userId, message) => report(sender.sendToUser(userId, message)),
    close: (id, code, reason) => byId.get(id)?.close(code, reason),
    onTransition: (listener) => void listeners.push(listener),
    stop: () => new Promise<void>((resolve) => wss.close(() => resolve()))
  };
  return subject;
};
