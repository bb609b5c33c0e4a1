import { connect as netConnect, createServer, type Server, type Socket } from 'node:net';

/**
 * How a FaultProxy treats the link it stands on.
 * - `pass`: bytes flow both ways.
 * - `cut`: every connection is reset and new ones are reset as soon as they arrive (a partition
 *   whose peers see RST, or a dead host behind a load balancer).
 * - `stall`: connections stay open and new ones are accepted, but nothing flows either way (a
 *   black hole); what was sent waits and flows on after `restore()`, as TCP retransmits would.
 * - `hold-replies`: requests reach the server, its answers are held back (a publish lands, its
 *   ack never arrives); they flow on after `restore()`.
 */
export type FaultMode = 'pass' | 'cut' | 'stall' | 'hold-replies';

interface Link {
  readonly client: Socket;
  readonly upstream: Socket;
  /** Bytes held back while the mode withholds them, per direction. */
  readonly held: { toUpstream: Buffer[]; toClient: Buffer[] };
}

/**
 * A TCP proxy on loopback between one service and one dependency, that a test can cut, stall
 * or make withhold answers, then restore, while the service keeps running.
 */
export class FaultProxy {
  private mode: FaultMode = 'pass';
  private readonly links = new Set<Link>();
  /** Connections accepted over the proxy's life (a reconnect shows as a new one). */
  accepted = 0;

  private constructor(
    private readonly server: Server,
    readonly port: number,
    readonly target: { readonly host: string; readonly port: number },
  ) {}

  /** Listens on a free loopback port, forwarding to `target`. */
  static async start(target: { host?: string; port: number }): Promise<FaultProxy> {
    const to = { host: target.host ?? '127.0.0.1', port: target.port };
    const ref: { proxy?: FaultProxy } = {};
    const server = createServer((client) => ref.proxy?.accept(client));
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(0, '127.0.0.1', () => resolve());
    });
    const address = server.address();
    if (!address || typeof address !== 'object') throw new Error('fault proxy has no port');
    ref.proxy = new FaultProxy(server, address.port, to);
    return ref.proxy;
  }

  /** `target` URL with its host and port replaced by the proxy's. */
  urlFor(targetUrl: string): string {
    const url = new URL(targetUrl);
    url.hostname = '127.0.0.1';
    url.port = String(this.port);
    return url.toString().replace(/\/$/, '');
  }

  get state(): FaultMode {
    return this.mode;
  }

  /** Open connections through the proxy. */
  get connections(): number {
    return this.links.size;
  }

  /** Bytes held back, both directions. */
  get heldBytes(): number {
    let n = 0;
    for (const link of this.links)
      for (const chunk of [...link.held.toUpstream, ...link.held.toClient]) n += chunk.length;
    return n;
  }

  cut(): void {
    this.mode = 'cut';
    for (const link of [...this.links]) this.drop(link);
  }

  stall(): void {
    this.mode = 'stall';
  }

  holdReplies(): void {
    this.mode = 'hold-replies';
  }

  /** Back to `pass`: whatever was held flows on, in order. */
  restore(): void {
    this.mode = 'pass';
    for (const link of this.links) {
      for (const chunk of link.held.toUpstream.splice(0)) link.upstream.write(chunk);
      for (const chunk of link.held.toClient.splice(0)) link.client.write(chunk);
    }
  }

  async close(): Promise<void> {
    for (const link of [...this.links]) this.drop(link);
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }

  private accept(client: Socket): void {
    this.accepted += 1;
    client.on('error', () => undefined);
    if (this.mode === 'cut') {
      client.resetAndDestroy();
      return;
    }
    const upstream = netConnect(this.target.port, this.target.host);
    upstream.on('error', () => undefined);
    const link: Link = { client, upstream, held: { toUpstream: [], toClient: [] } };
    this.links.add(link);
    client.on('data', (chunk: Buffer) => {
      if (this.mode === 'stall') link.held.toUpstream.push(chunk);
      else upstream.write(chunk);
    });
    upstream.on('data', (chunk: Buffer) => {
      if (this.mode === 'stall' || this.mode === 'hold-replies') link.held.toClient.push(chunk);
      else client.write(chunk);
    });
    const end = () => this.drop(link);
    client.once('close', end);
    upstream.once('close', end);
  }

  private drop(link: Link): void {
    if (!this.links.delete(link)) return;
    // RST rather than FIN: the peers see the link break, not an orderly goodbye.
    if (!link.client.destroyed) link.client.resetAndDestroy();
    if (!link.upstream.destroyed) link.upstream.resetAndDestroy();
  }
}
