import { describe, expect, it } from 'vitest';

// The page's own module, as the browser loads it (plain JavaScript, no build step, no types).
const pageApi: string = '../public/api.js';
const { describeFailure } = (await import(pageApi)) as {
  describeFailure: (status: number, body: unknown) => string;
};

describe('the page’s failure messages', () => {
  it('says what was rate limited and when to come back, for bids and tokens alike', () => {
    expect(describeFailure(429, { error: 'rate_limited', message: 'too many bids; retry in 2 s' })).toBe(
      'Slow down: too many bids; retry in 2 s.',
    );
    expect(describeFailure(429, { error: 'rate_limited', message: 'too many tokens; retry in 5 s' })).toBe(
      'Slow down: too many tokens; retry in 5 s.',
    );
    // A proxy's bare 429 says nothing about bids.
    expect(describeFailure(429, undefined)).toBe(
      'Too many requests in a short time. Wait a moment and try again.',
    );
  });

  it('names the highest bid and the minimum on bid_too_low, and the rest by status', () => {
    expect(describeFailure(409, { error: 'bid_too_low', highest: '12.50', minimum: '13.50' })).toBe(
      'Bid too low. The highest bid is 12.50. Bid at least 13.50.',
    );
    expect(describeFailure(410, { error: 'auction_closed' })).toBe('This auction has closed: no more bids.');
    expect(describeFailure(400, { error: 'invalid_request', message: 'body.amount: too big' })).toBe(
      'That was not accepted: body.amount: too big.',
    );
    expect(describeFailure(418, {})).toBe('The server answered 418.');
  });
});
