import { describe, expect, it } from 'vitest';
import { broadcastUrlFor } from '../src/cli/broadcast-url.js';
import { describeFailure } from '../src/cli/api-client.js';
import { helpText, parseCommand, type Command } from '../src/cli/command-parser.js';
import { bidLine, chatLine, closedLine, dmLine, presenceLine, roomsLine } from '../src/cli/output-format.js';

function command(line: string): Command {
  const result = parseCommand(line);
  if (!result.ok) throw new Error(`expected "${line}" to parse, got: ${result.error}`);
  return result.command;
}

function error(line: string): string {
  const result = parseCommand(line);
  if (result.ok) throw new Error(`expected "${line}" to fail, got ${JSON.stringify(result.command)}`);
  return result.error;
}

describe('command parser', () => {
  it("parses seed 003's commands and the item commands", () => {
    expect(command('/join lobby')).toEqual({ kind: 'join', roomId: 'lobby' });
    expect(command('  /leave   lobby ')).toEqual({ kind: 'leave', roomId: 'lobby' });
    expect(command('/leave')).toEqual({ kind: 'leave', roomId: undefined });
    expect(command('/chat hello   there ')).toEqual({ kind: 'chat', text: 'hello   there' });
    expect(command('/private bob see you at 5')).toEqual({
      kind: 'private',
      to: 'bob',
      text: 'see you at 5',
    });
    expect(command('/rooms')).toEqual({ kind: 'rooms' });
    expect(command('/watch item_1')).toEqual({ kind: 'watch', itemId: 'item_1' });
    expect(command('/unwatch item_1')).toEqual({ kind: 'unwatch', itemId: 'item_1' });
    expect(command('/bid item_1 12.5')).toEqual({
      kind: 'bid',
      itemId: 'item_1',
      amount: '12.5',
      amountCents: 1250,
    });
    expect(command('/who')).toEqual({ kind: 'who', roomId: undefined });
    expect(command('/who lobby')).toEqual({ kind: 'who', roomId: 'lobby' });
    expect(command('/help')).toEqual({ kind: 'help' });
    expect(command('/quit')).toEqual({ kind: 'quit' });
  });

  it('treats plain text as chat, blank lines as nothing, and knows a few aliases', () => {
    expect(command('hello everyone')).toEqual({ kind: 'chat', text: 'hello everyone' });
    expect(command('   ')).toEqual({ kind: 'none' });
    expect(command('/QUIT')).toEqual({ kind: 'quit' });
    expect(command('/exit')).toEqual({ kind: 'quit' });
    expect(command('/msg bob hi')).toEqual({ kind: 'private', to: 'bob', text: 'hi' });
  });

  it('explains unknown commands and missing or bad arguments', () => {
    expect(error('/dance')).toBe('unknown command "/dance" (type /help for the list)');
    expect(error('/join')).toBe('missing room (usage: /join ROOM)');
    expect(error('/join a b')).toBe('too many arguments (usage: /join ROOM)');
    expect(error('/join room.with.dots')).toMatch(/not a valid room id/);
    expect(error('/watch')).toBe('missing item (usage: /watch ITEM)');
    expect(error('/chat')).toBe('missing text (usage: /chat TEXT)');
    expect(error('/chat    ')).toBe('missing text (usage: /chat TEXT)');
    expect(error('/private')).toBe('missing user and text (usage: /private USER TEXT)');
    expect(error('/private bob')).toBe('missing text (usage: /private USER TEXT)');
    expect(error('/private b*b hi')).toMatch(/not a valid user id/);
    expect(error('/bid')).toBe('missing item and amount (usage: /bid ITEM AMOUNT)');
    expect(error('/bid item1')).toBe('missing amount (usage: /bid ITEM AMOUNT)');
    expect(error('/bid item1 12.345')).toMatch(/^bad amount "12.345": .*at most 2 fractional digits/);
    expect(error('/bid item1 -3')).toMatch(/^bad amount "-3": amount must be greater than 0/);
    expect(error('/bid item1 abc')).toMatch(/^bad amount "abc"/);
    expect(error('/bid item1 1 2')).toBe('too many arguments (usage: /bid ITEM AMOUNT)');
    expect(error('/rooms now')).toBe('/rooms takes no arguments (usage: /rooms)');
    expect(error('x'.repeat(2001))).toBe('text is 2001 characters, the limit is 2000');
    expect(command('x'.repeat(2000))).toEqual({ kind: 'chat', text: 'x'.repeat(2000) });
  });

  it('lists every command in the help', () => {
    for (const usage of [
      '/join ROOM',
      '/leave [ROOM]',
      '/chat TEXT',
      '/private USER TEXT',
      '/rooms',
      '/watch ITEM',
    ]) {
      expect(helpText()).toContain(usage);
    }
    expect(helpText()).toContain('/bid ITEM AMOUNT');
    expect(helpText()).toContain('/quit');
  });
});

describe('broadcast URL', () => {
  it('is the api origin, except next door to a local api on 8080, unless overridden', () => {
    expect(broadcastUrlFor('http://127.0.0.1:8080')).toBe('http://127.0.0.1:8081');
    expect(broadcastUrlFor('https://gavel.example.com/')).toBe('https://gavel.example.com');
    expect(broadcastUrlFor('http://localhost:3000/x')).toBe('http://localhost:3000');
    expect(broadcastUrlFor('http://127.0.0.1:8080', 'http://10.0.0.5:9000/ignored')).toBe(
      'http://10.0.0.5:9000',
    );
  });
});

describe('output lines', () => {
  it('reads like a chat client', () => {
    expect(chatLine({ roomId: 'lobby', userId: 'alice', text: 'hello' }, 'bob')).toBe('[lobby] alice: hello');
    expect(chatLine({ roomId: 'lobby', userId: 'bob', text: 'hi' }, 'bob')).toBe('[lobby] bob (you): hi');
    expect(dmLine({ from: 'bob', to: 'alice', text: 'hi' }, 'alice')).toBe('[dm] bob → you: hi');
    expect(dmLine({ from: 'alice', to: 'bob', text: 'hi' }, 'alice')).toBe('[dm] you → bob: hi');
    expect(bidLine({ itemId: 'item1', seq: 3, userId: 'carol', amountCents: 1250 })).toBe(
      '[bid item1 #3] carol 12.50',
    );
    expect(presenceLine({ roomId: 'lobby', userId: 'bob', state: 'leave' }, 'alice')).toBe(
      '[lobby] * bob left',
    );
    expect(roomsLine([{ roomId: 'lobby', members: 2 }])).toBe('[rooms] lobby (2)');
    expect(roomsLine([])).toBe('[rooms] no active rooms');
    expect(
      closedLine({ itemId: 'i', bidCount: 4, winner: { userId: 'dan', amountCents: 990, seq: 4 } }),
    ).toBe('[item i] closed: won by dan at 9.90, 4 bids');
  });

  it('turns api failures into one readable line', () => {
    expect(describeFailure(409, { error: 'bid_too_low', highest: '12.50', minimum: '13.50' })).toBe(
      'bid too low: the highest bid is 12.50, bid at least 13.50',
    );
    expect(describeFailure(410, { error: 'auction_closed' })).toBe(
      'auction closed: no more bids on this item',
    );
    expect(describeFailure(429, { error: 'rate_limited' })).toBe(
      'too many requests: slow down and try again',
    );
    expect(describeFailure(400, { error: 'invalid_request', message: 'body.amount: too big' })).toBe(
      'rejected: body.amount: too big',
    );
  });
});
