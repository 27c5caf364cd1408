/**
 * A small TCP proxy on 127.0.0.1 for the cluster demo and tests (#12):
 * round-robin over its targets, skipping one that refuses (a killed node),
 * and able to cut every connection and refuse new ones until restored (a
 * network partition between a node and Redis), or to send new connections
 * elsewhere (a managed service's endpoint that follows a failover).
 */
import { once } from 'node:events';
import { createConnection, createServer, type AddressInfo, type Server, type Socket } from 'node:net';

export class TcpProxy {
  readonly #server: Server;
  #targets: number[];
  readonly #pairs = new Set<[Socket, Socket]>();
  #next = 0;
  #cut = false;

  private constructor(targets: number[]) {
    this.#targets = targets;
    this.#server = createServer((client) => this.#accept(client));
  }

  /** Listen on 127.0.0.1 (port 0: any free one) in front of `targets` (ports on 127.0.0.1). */
  static async start(targets: number[], port = 0): Promise<TcpProxy> {
    const proxy = new TcpProxy(targets);
    proxy.#server.listen(port, '127.0.0.1');
    await once(proxy.#server, 'listening');
    return proxy;
  }

  get port(): number {
    return (this.#server.address() as AddressInfo).port;
  }

  /** Connections through the proxy now. */
  get connections(): number {
    return this.#pairs.size;
  }

  /** Destroy every connection and refuse new ones until `restore`. */
  cut(): void {
    this.#cut = true;
    for (const [client, upstream] of this.#pairs) {
      client.destroy();
      upstream.destroy();
    }
    this.#pairs.clear();
  }

  restore(): void {
    this.#cut = false;
  }

  /** New connections go to `targets` from now on; those open stay where they are. */
  retarget(targets: number[]): void {
    this.#targets = [...targets];
    this.#next = 0;
  }

  async close(): Promise<void> {
    this.cut();
    await new Promise<void>((resolve) => this.#server.close(() => resolve()));
  }

  #accept(client: Socket): void {
    client.on('error', () => {});
    if (this.#cut) {
      client.destroy();
      return;
    }
    this.#connect(client, 0);
  }

  /** Try the targets in turn from the next one; a refusal moves on, all refusing closes the client. */
  #connect(client: Socket, tried: number): void {
    if (tried >= this.#targets.length || client.destroyed) {
      client.destroy();
      return;
    }
    const port = this.#targets[this.#next++ % this.#targets.length]!;
    const upstream = createConnection({ host: '127.0.0.1', port });
    const refused = (): void => this.#connect(client, tried + 1);
    upstream.once('error', refused);
    upstream.once('connect', () => {
      upstream.off('error', refused);
      upstream.on('error', () => client.destroy());
      if (this.#cut || client.destroyed) {
        upstream.destroy();
        client.destroy();
        return;
      }
      const pair: [Socket, Socket] = [client, upstream];
      this.#pairs.add(pair);
      const end = (): void => {
        this.#pairs.delete(pair);
        client.destroy();
        upstream.destroy();
      };
      client.once('close', end);
      upstream.once('close', end);
      client.pipe(upstream);
      upstream.pipe(client);
    });
  }
}
