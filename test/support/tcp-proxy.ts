import { createServer, connect, type Server, type Socket } from 'node:net';
import { once } from 'node:events';

/**
 * A TCP proxy on loopback between a client and a server, that can cut the network in the middle:
 * `partition()` stops carrying bytes both ways without closing anything (what a network partition
 * looks like to both ends: a connection that is open and silent).
 */
export class TcpProxy {
  private partitioned = false;
  private cutOff = false;
  private readonly pairs = new Set<[Socket, Socket]>();

  private constructor(private readonly server: Server) {}

  static async start(target: { host: string; port: number }): Promise<TcpProxy> {
    const server = createServer();
    const proxy = new TcpProxy(server);
    server.on('connection', (downstream) => {
      if (proxy.cutOff) downstream.resetAndDestroy();
      else proxy.carry(downstream, connect(target.port, target.host));
    });
    server.listen(0, '127.0.0.1');
    await once(server, 'listening');
    return proxy;
  }

  get port(): number {
    return (this.server.address() as { port: number }).port;
  }

  /** The local ports of the proxy's connections to the server: how the server sees these clients (pg_stat_activity.client_port). */
  upstreamPorts(): number[] {
    return [...this.pairs].map(([, upstream]) => upstream.localPort!).filter((port) => port !== undefined);
  }

  /** From now on nothing crosses, in either direction, on existing or new connections. */
  partition(): void {
    this.partitioned = true;
  }

  /**
   * Every connection reset at once, both ways, and new ones reset as they open, until `restore()`:
   * what a replica sees of a Postgres failover or restart (ECONNRESET, then no server for a while).
   */
  cut(): void {
    this.cutOff = true;
    for (const pair of this.pairs) for (const socket of pair) socket.resetAndDestroy();
    this.pairs.clear();
  }

  /** After `cut()`: new connections reach the server again. */
  restore(): void {
    this.cutOff = false;
  }

  async stop(): Promise<void> {
    for (const [a, b] of this.pairs) {
      a.destroy();
      b.destroy();
    }
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }

  private carry(downstream: Socket, upstream: Socket): void {
    const pair: [Socket, Socket] = [downstream, upstream];
    this.pairs.add(pair);
    const forward = (from: Socket, to: Socket) =>
      from.on('data', (chunk) => {
        if (!this.partitioned) to.write(chunk);
      });
    forward(downstream, upstream);
    forward(upstream, downstream);
    // Across a partition a close is not heard on the other side: the server keeps its end open.
    const close = () => {
      if (this.partitioned) return;
      this.pairs.delete(pair);
      downstream.destroy();
      upstream.destroy();
    };
    downstream.on('close', close);
    upstream.on('close', close);
    downstream.on('error', () => {});
    upstream.on('error', () => {});
  }
}
