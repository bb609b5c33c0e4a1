// The local stand-in for the ALB in front of the WebSocket tier: one port, two broadcast colours,
// new sessions split by weight, existing ones sticky, a colour that is not ready (draining)
// given no new sessions. The split follows charts-ts/weights.json live (what `npm run weights`
// writes), or PUT /__gavel/weights {blue, green} for a demo that must leave the file alone.
import { watchFile, unwatchFile, readFileSync } from 'node:fs';
import { createServer } from 'node:http';
import { createProxyServer } from 'http-proxy-3';

const COLOURS = ['blue', 'green'];
/** A Socket.IO polling session unseen this long is forgotten. */
const SESSION_IDLE_MS = 5 * 60_000;

/**
 * @typedef {object} Backend
 * @property {'blue' | 'green'} colour
 * @property {string} url
 * @property {boolean} ready
 * @property {number} sessions new sessions sent here
 */

export class WeightedProxy {
  /** @type {Record<'blue' | 'green', Backend>} */
  #backends;
  #weights = { blue: 100, green: 0 };
  /** engine.io sid → colour, for the long-polling requests that follow a handshake. */
  #sessions = new Map();
  #proxy = createProxyServer({ xfwd: true });
  #server;
  #timer;
  #weightsFile;
  #log;
  #drain;

  /**
   * @param {{ blue: string, green: string, weightsFile?: string, log?: (line: string) => void, probeMs?: number, drain?: (colour: 'blue' | 'green') => boolean }} options
   *   the colours' base URLs; the weights file to follow; how to drain a colour (POST /__gavel/drain/<colour>)
   */
  constructor(options) {
    this.#backends = {
      blue: { colour: 'blue', url: options.blue, ready: false, sessions: 0 },
      green: { colour: 'green', url: options.green, ready: false, sessions: 0 },
    };
    this.#weightsFile = options.weightsFile;
    this.#log = options.log ?? (() => undefined);
    this.#drain = options.drain;
    this.probeMs = options.probeMs ?? 250;
    this.#proxy.on('error', (err, _req, res) => {
      // A backend that went away mid-request: the client sees a 502 (or a closed socket) and retries.
      if (res && 'writeHead' in res && !res.headersSent) {
        res.writeHead(502, { 'content-type': 'application/json' });
        res.end(JSON.stringify({ error: 'bad_gateway', message: err.message }));
      } else res?.destroy?.();
    });
    this.#proxy.on('proxyRes', (proxyRes, req) => this.#learnSession(proxyRes, req));
    this.#server = createServer((req, res) => this.#web(req, res));
    this.#server.on('upgrade', (req, socket, head) => {
      socket.on('error', () => socket.destroy());
      const backend = this.#choose(req);
      if (!backend) return refuseUpgrade(socket);
      this.#proxy.ws(req, socket, head, { target: backend.url });
    });
  }

  get weights() {
    return { ...this.#weights };
  }

  /** What the proxy knows, as GET /__gavel/proxy answers. */
  status() {
    return {
      weights: this.weights,
      backends: COLOURS.map((c) => ({ ...this.#backends[c] })),
    };
  }

  setWeights(weights, source) {
    if (!validWeights(weights)) throw new Error('weights must be integers 0..100 that sum to 100');
    const changed = weights.blue !== this.#weights.blue || weights.green !== this.#weights.green;
    this.#weights = { blue: weights.blue, green: weights.green };
    if (changed) this.#log(`weights blue ${weights.blue} / green ${weights.green} (${source})`);
  }

  /** @returns {Promise<number>} the bound port */
  async listen(port, host = '127.0.0.1') {
    if (this.#weightsFile) {
      this.#readWeightsFile();
      watchFile(this.#weightsFile, { interval: 500 }, () => this.#readWeightsFile());
    }
    await this.#probe();
    this.#timer = setInterval(() => void this.#probe(), this.probeMs);
    await new Promise((resolve, reject) => {
      this.#server.once('error', reject);
      this.#server.listen(port, host, resolve);
    });
    return this.#server.address().port;
  }

  async close() {
    clearInterval(this.#timer);
    if (this.#weightsFile) unwatchFile(this.#weightsFile);
    this.#server.closeAllConnections?.();
    await new Promise((resolve) => this.#server.close(() => resolve()));
    this.#proxy.close();
  }

  #readWeightsFile() {
    try {
      this.setWeights(JSON.parse(readFileSync(this.#weightsFile, 'utf8')), 'weights.json');
    } catch (err) {
      this.#log(`ignoring ${this.#weightsFile}: ${err instanceof Error ? err.message : String(err)}`);
    }
  }

  async #probe() {
    await Promise.all(
      COLOURS.map(async (c) => {
        const backend = this.#backends[c];
        let ready;
        try {
          const res = await fetch(`${backend.url}/readyz`, { signal: AbortSignal.timeout(2000) });
          ready = res.ok;
        } catch (err) {
          // A slow answer on a busy machine is not a verdict: keep what was known.
          ready = err instanceof Error && err.name === 'TimeoutError' ? backend.ready : false;
        }
        if (ready !== backend.ready) this.#log(`${c} is ${ready ? 'ready' : 'not ready'}`);
        backend.ready = ready;
      }),
    );
  }

  /** Sticky for a known polling session; otherwise by weight among the ready colours. */
  #choose(req) {
    const sid = new URL(req.url ?? '/', 'http://proxy').searchParams.get('sid');
    const known = sid ? this.#sessions.get(sid) : undefined;
    if (known) {
      known.seen = Date.now();
      return this.#backends[known.colour];
    }
    const ready = COLOURS.filter((c) => this.#backends[c].ready);
    if (ready.length === 0) return undefined;
    const weighted = ready.filter((c) => this.#weights[c] > 0);
    // Only a colour at weight 0 is ready: better served there than refused (the ALB does the same).
    const pool = weighted.length > 0 ? weighted : ready;
    const total = pool.reduce((sum, c) => sum + Math.max(this.#weights[c], 1), 0);
    let pick = Math.random() * total;
    for (const c of pool) {
      pick -= Math.max(this.#weights[c], 1);
      if (pick < 0) {
        this.#backends[c].sessions++;
        return this.#backends[c];
      }
    }
    this.#backends[pool[pool.length - 1]].sessions++;
    return this.#backends[pool[pool.length - 1]];
  }

  #web(req, res) {
    const url = new URL(req.url ?? '/', 'http://proxy');
    if (url.pathname === '/__gavel/proxy') return json(res, 200, this.status());
    if (url.pathname === '/__gavel/weights' && req.method === 'PUT') return this.#putWeights(req, res);
    const drain = /^\/__gavel\/drain\/(blue|green)$/.exec(url.pathname);
    if (drain && req.method === 'POST') {
      if (!this.#drain) return json(res, 404, { error: 'not_found', message: 'this proxy cannot drain' });
      const colour = drain[1];
      // The colour's process drains (server:draining to each client) and exits; its supervisor
      // restarts it, as Kubernetes would a Deployment's pod.
      if (!this.#drain(colour))
        return json(res, 409, { error: 'not_running', message: `${colour} is not running` });
      this.#log(`draining ${colour}`);
      return json(res, 202, { draining: colour });
    }
    if (url.pathname === '/readyz' || url.pathname === '/livez') {
      // Ready while at least one colour is: what the ALB's health would say of the tier.
      const ok = url.pathname === '/livez' || COLOURS.some((c) => this.#backends[c].ready);
      return json(res, ok ? 200 : 503, { ok });
    }
    const backend = this.#choose(req);
    if (!backend) return json(res, 503, { error: 'no_backend', message: 'no broadcast colour is ready' });
    req.gavelColour = backend.colour;
    this.#proxy.web(req, res, { target: backend.url });
  }

  #putWeights(req, res) {
    let body = '';
    req.setEncoding('utf8');
    req.on('data', (chunk) => {
      body += chunk;
      if (body.length > 1024) req.destroy();
    });
    req.on('end', () => {
      let weights;
      try {
        weights = JSON.parse(body);
      } catch {
        return json(res, 400, { error: 'invalid_request', message: 'body must be JSON {blue, green}' });
      }
      if (!validWeights(weights)) {
        return json(res, 400, {
          error: 'invalid_request',
          message: 'blue and green: integers 0..100 summing to 100',
        });
      }
      this.setWeights(weights, 'PUT /__gavel/weights');
      json(res, 200, this.weights);
    });
  }

  /** A polling handshake answers `0{"sid":"…"}`: later requests with that sid go to the same colour. */
  #learnSession(proxyRes, req) {
    const colour = req.gavelColour;
    if (!colour || !req.url?.includes('/socket.io/') || req.url.includes('sid=')) return;
    let head = '';
    const onData = (chunk) => {
      head += chunk.toString('latin1');
      const sid = /"sid":"([^"]+)"/.exec(head)?.[1];
      if (sid || head.length > 512) {
        proxyRes.off('data', onData);
        if (sid) this.#remember(sid, colour);
      }
    };
    proxyRes.on('data', onData);
  }

  #remember(sid, colour) {
    const now = Date.now();
    this.#sessions.set(sid, { colour, seen: now });
    if (this.#sessions.size % 256 === 0) {
      for (const [key, s] of this.#sessions) if (now - s.seen > SESSION_IDLE_MS) this.#sessions.delete(key);
    }
  }
}

function validWeights(w) {
  return (
    w !== null &&
    typeof w === 'object' &&
    Number.isInteger(w.blue) &&
    Number.isInteger(w.green) &&
    w.blue >= 0 &&
    w.green >= 0 &&
    w.blue + w.green === 100
  );
}

function json(res, status, body) {
  res.writeHead(status, { 'content-type': 'application/json' });
  res.end(JSON.stringify(body));
}

function refuseUpgrade(socket) {
  socket.end(
    'HTTP/1.1 503 Service Unavailable\r\nContent-Type: text/plain\r\nConnection: close\r\n\r\nno broadcast colour is ready\n',
  );
}
