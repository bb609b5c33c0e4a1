/** Calls to the api (same origin as this page), with failures turned into readable messages. */

export class ApiFailure extends Error {
  constructor(message, status, body) {
    super(message);
    this.status = status;
    this.body = body;
  }
}

export class Api {
  constructor(token) {
    this.token = token;
  }

  async request(method, path, body, headers = {}) {
    let res;
    try {
      res = await fetch(path, {
        method,
        headers: {
          ...(body === undefined ? {} : { 'content-type': 'application/json' }),
          ...(this.token ? { authorization: `Bearer ${this.token}` } : {}),
          ...headers,
        },
        body: body === undefined ? undefined : JSON.stringify(body),
      });
    } catch {
      throw new ApiFailure('Cannot reach the server. Check your connection and try again.', 0, undefined);
    }
    const text = await res.text();
    let data;
    try {
      data = text ? JSON.parse(text) : {};
    } catch {
      data = { message: text };
    }
    if (!res.ok) throw new ApiFailure(describeFailure(res.status, data), res.status, data);
    return data;
  }

  async devToken(userId) {
    const { token } = await this.request('POST', '/api/v1/dev/token', { userId });
    return token;
  }

  async listItems() {
    const data = await this.request('GET', '/api/v1/items');
    return Array.isArray(data) ? data : Array.isArray(data.items) ? data.items : [];
  }

  getItem(itemId) {
    return this.request('GET', `/api/v1/items/${encodeURIComponent(itemId)}`);
  }

  createItem(item) {
    return this.request('POST', '/api/v1/items', item);
  }

  placeBid(itemId, amount, idempotencyKey) {
    return this.request(
      'POST',
      `/api/v1/items/${encodeURIComponent(itemId)}/bid`,
      { amount },
      {
        'idempotency-key': idempotencyKey,
      },
    );
  }

  /** The stored bids of an item, oldest first. */
  async itemBids(itemId, limit = 1000) {
    const data = await this.request('GET', `/api/v1/items/${encodeURIComponent(itemId)}/bids?limit=${limit}`);
    return Array.isArray(data.bids) ? data.bids : [];
  }

  /** The caller's direct messages with one user, newest first. */
  async dms(withUser, limit = 50) {
    const data = await this.request('GET', `/api/v1/dms?with=${encodeURIComponent(withUser)}&limit=${limit}`);
    return Array.isArray(data.messages) ? data.messages : [];
  }

  /** Newest first, as the api returns them. */
  async roomMessages(roomId, limit = 50) {
    const data = await this.request(
      'GET',
      `/api/v1/rooms/${encodeURIComponent(roomId)}/messages?limit=${limit}`,
    );
    return Array.isArray(data) ? data : Array.isArray(data.messages) ? data.messages : [];
  }
}

function detailOf(body) {
  if (!body || typeof body !== 'object') return undefined;
  if (typeof body.message === 'string' && body.message) return body.message;
  if (typeof body.error === 'string') return body.error.replaceAll('_', ' ');
  return undefined;
}

export function describeFailure(status, body) {
  const detail = detailOf(body);
  switch (status) {
    case 400:
      return `That was not accepted: ${detail ?? 'invalid input'}.`;
    case 401:
      return 'Your sign-in has expired. Sign in again.';
    case 404:
      return detail && detail !== 'not found' ? `Not found (${detail}).` : 'Not found.';
    case 409: {
      if (body?.error !== 'bid_too_low') return `Not accepted: ${detail ?? 'conflict'}. Try again.`;
      const highest = typeof body.highest === 'string' ? ` The highest bid is ${body.highest}.` : '';
      const minimum = typeof body.minimum === 'string' ? ` Bid at least ${body.minimum}.` : '';
      return `Bid too low.${highest}${minimum}`;
    }
    case 410:
      return 'This auction has closed: no more bids.';
    case 429:
      // The api says what was limited and when to come back ("too many bids; retry in 2 s"):
      // a bid, or a sign-in or token renewal.
      return detail && body?.message
        ? `Slow down: ${detail}.`
        : 'Too many requests in a short time. Wait a moment and try again.';
    case 503:
      return 'The service is busy or restarting. Try again in a few seconds.';
    default:
      return `The server answered ${status}${detail ? `: ${detail}` : ''}.`;
  }
}
