import { spawn, type ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { stripVTControlCharacters } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { signToken } from '@gavel/shared';
import { FaultProxy, TestStack, freePort, waitFor, type ServiceProcess } from '@gavel/shared/testing';
import { broadcastUrlFor } from '../src/broadcast-url.js';
import { ApiError, describeFailure } from '../src/api-client.js';
import { outcomeUnknown } from '../src/bid-retry.js';
import { durationText, renewalTime } from '../src/token-lifetime.js';
import { helpText, parseCommand, type Command } from '../src/command-parser.js';
import { completeLine, type CompletionSources } from '../src/completion.js';
import { ItemNumbers } from '../src/item-numbers.js';
import {
  bidLine,
  chatLine,
  closedLine,
  dmLine,
  itemsLines,
  presenceLine,
  roomsLine,
} from '../src/output-format.js';

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
    expect(command('/items')).toEqual({ kind: 'items' });
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
    expect(error('/items 2')).toBe('/items takes no arguments (usage: /items)');
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
    expect(helpText()).toContain('/items');
    expect(helpText()).toContain('/quit');
  });
});

describe('item numbers and completion', () => {
  it('turns the numbers of the last /items list into ids, and leaves anything else as typed', () => {
    const numbers = new ItemNumbers();
    expect(numbers.resolve('1')).toBe('1');
    numbers.remember(['lamp', 'clock']);
    expect(numbers.resolve('1')).toBe('lamp');
    expect(numbers.resolve('2')).toBe('clock');
    expect(numbers.resolve('3')).toBe('3');
    expect(numbers.resolve('0')).toBe('0');
    expect(numbers.resolve('clock')).toBe('clock');
  });

  it('completes command names, then rooms, items and users by command', () => {
    const sources: CompletionSources = {
      rooms: () => ['lobby', 'late-night'],
      items: () => ['brass_telescope', 'brass_bell', 'clock'],
      users: () => ['bob', 'bea'],
    };
    expect(completeLine('/wa', sources)).toEqual([['/watch '], '/wa']);
    expect(completeLine('/', sources)[0]).toContain('/items ');
    expect(completeLine('/', sources)[0]).toHaveLength(12);
    expect(completeLine('/j', sources)).toEqual([['/join '], '/j']);
    expect(completeLine('/join l', sources)).toEqual([['late-night ', 'lobby '], 'l']);
    expect(completeLine('/watch brass_t', sources)).toEqual([['brass_telescope '], 'brass_t']);
    expect(completeLine('/bid brass', sources)).toEqual([['brass_bell ', 'brass_telescope '], 'brass']);
    expect(completeLine('/private b', sources)).toEqual([['bea ', 'bob '], 'b']);
    expect(completeLine('/msg bo', sources)).toEqual([['bob '], 'bo']);
    // Nothing to complete: chat text, a second argument, a command without names.
    expect(completeLine('hello wo', sources)).toEqual([[], 'hello wo']);
    expect(completeLine('/bid clock 1', sources)).toEqual([[], '/bid clock 1']);
    expect(completeLine('/rooms x', sources)).toEqual([[], 'x']);
    expect(completeLine('/zz', sources)).toEqual([[], '/zz']);
  });

  it('numbers the open auctions', () => {
    const now = Date.parse('2030-01-01T12:00:00Z');
    expect(
      itemsLines(
        [
          {
            id: 'lamp',
            title: 'Desk lamp',
            highestBid: { amount: '12.50', userId: 'ann', seq: 2 },
            endsAt: '2030-01-01T12:04:05Z',
          },
          {
            id: 'clock',
            title: 'Clock',
            highestBid: null,
            startingPrice: '5.00',
            endsAt: '2030-01-01T14:10:00Z',
          },
        ],
        'ann',
        now,
      ),
    ).toEqual([
      '[items] 2 open auctions (by number: /watch 1, /bid 1 AMOUNT)',
      '  1. Desk lamp — 12.50 by you, 4m 05s left  [lamp]',
      '  2. Clock — no bids, starts at 5.00, 2h 10m left  [clock]',
    ]);
    expect(itemsLines([], 'ann')).toEqual(['[items] no open auctions']);
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
    expect(describeFailure(429, { error: 'rate_limited', message: 'too many tokens; retry in 3 s' })).toBe(
      'slow down: too many tokens; retry in 3 s',
    );
    expect(describeFailure(400, { error: 'invalid_request', message: 'body.amount: too big' })).toBe(
      'rejected: body.amount: too big',
    );
    expect(describeFailure(503, { error: 'outcome_unknown' })).toBe(
      'no answer from the service: it may or may not have been done',
    );
    expect(describeFailure(503, { error: 'dependency_unavailable' })).toBe(
      'the service is unavailable right now, try again shortly',
    );
  });

  it('asks again only when the bid may have been placed', () => {
    expect(outcomeUnknown(new ApiError('x', 503, 'outcome_unknown'))).toBe(true);
    expect(outcomeUnknown(new ApiError('x', undefined, 'no_answer'))).toBe(true);
    expect(outcomeUnknown(new ApiError('x', 504))).toBe(true);
    // Nothing was sent, or it was refused: asking again would not tell anything new.
    expect(outcomeUnknown(new ApiError('x', undefined, 'unreachable'))).toBe(false);
    expect(outcomeUnknown(new ApiError('x', 503, 'dependency_unavailable'))).toBe(false);
    expect(outcomeUnknown(new ApiError('x', 409, 'bid_too_low'))).toBe(false);
    expect(outcomeUnknown(new Error('x'))).toBe(false);
  });

  it('renews a token a third of its life before its end, at most 5 minutes before', () => {
    const token = (claims: object) => `e30.${Buffer.from(JSON.stringify(claims)).toString('base64url')}.sig`;
    expect(renewalTime(token({ iat: 1000, exp: 1030 }))).toBe(1_020_000);
    expect(renewalTime(token({ iat: 0, exp: 43_200 }))).toBe(43_200_000 - 300_000);
    expect(renewalTime(token({ exp: 1030 }), 1_000_000)).toBe(1_020_000);
    expect(renewalTime(token({ iat: 1000 }))).toBeUndefined();
    expect(renewalTime('not.a.jwt')).toBeUndefined();
    expect(durationText(45_000)).toBe('45s');
    expect(durationText(125_000)).toBe('2m 05s');
    expect(durationText(4_200_000)).toBe('1h 10m');
  });
});

// ---------------------------------------------------------------------------------------------
// The CLI end to end: api + broadcast + archival as real processes, two CLIs driven through stdin.

/**
 * Services and CLI processes start slowly on a loaded 2-core CI machine (each CLI compiles its
 * TypeScript at start); these ceilings only bound a hang.
 */
const STARTUP_MS = 120_000;

const BIN = fileURLToPath(new URL('../bin/gavel.js', import.meta.url));

/** A running `gavel chat` with everything it printed (stdout and stderr, interleaved). */
class CliProcess {
  private text = '';
  /** Where the next expectLine starts looking, so each expectation consumes its match. */
  private cursor = 0;
  readonly exited: Promise<number | null>;

  constructor(readonly child: ChildProcess) {
    child.stdout?.on('data', (d: Buffer) => (this.text += d.toString()));
    child.stderr?.on('data', (d: Buffer) => (this.text += d.toString()));
    this.exited = new Promise((resolve) => child.once('exit', (code) => resolve(code)));
  }

  get output(): string {
    return this.text;
  }

  send(line: string): void {
    this.child.stdin?.write(`${line}\n`);
  }

  /** Waits for a line matching `pattern` after the previous match; returns it. */
  async expectLine(pattern: RegExp | string, timeoutMs = 60_000): Promise<string> {
    const matches = (line: string) => (typeof pattern === 'string' ? line === pattern : pattern.test(line));
    return waitFor(
      () => {
        const rest = this.text.slice(this.cursor);
        let offset = 0;
        for (const line of rest.split('\n')) {
          const end = offset + line.length + 1;
          if (end <= rest.length && matches(line)) {
            this.cursor += end;
            return line;
          }
          offset = end;
        }
        return undefined;
      },
      { timeoutMs, what: `a line matching ${String(pattern)}; output so far:\n${this.text}` },
    ).catch((err: Error) => {
      throw new Error(`${err.message.split(';')[0]}; output so far:\n${this.text}`);
    });
  }

  /** Waits for every line in `lines`, in any order (they race each other), after the previous match. */
  async expectLinesInAnyOrder(lines: readonly string[], timeoutMs = 60_000): Promise<void> {
    const end = await waitFor(
      () => {
        const rest = this.text.slice(this.cursor);
        const ends = lines.map((line) => {
          const at = `\n${rest}`.indexOf(`\n${line}\n`);
          return at < 0 ? -1 : at + line.length + 1;
        });
        return ends.every((e) => e >= 0) ? Math.max(...ends) : undefined;
      },
      { timeoutMs, what: `lines ${JSON.stringify(lines)}` },
    ).catch((err: Error) => {
      throw new Error(`${err.message}; output so far:\n${this.text}`);
    });
    this.cursor += end;
  }

  /** How many whole lines equal `line` (to prove something printed once). */
  count(line: string): number {
    return this.text.split('\n').filter((l) => l === line).length;
  }
}

function startCli(args: string[]): CliProcess {
  const child = spawn(process.execPath, [BIN, 'chat', ...args], { stdio: ['pipe', 'pipe', 'pipe'] });
  return new CliProcess(child);
}

describe('gavel --version', () => {
  it('prints the package version and exits 0', async () => {
    const child = spawn(process.execPath, [BIN, '--version'], { stdio: ['ignore', 'pipe', 'pipe'] });
    const run = new CliProcess(child);
    expect(await run.exited).toBe(0);
    expect(run.output).toBe('0.1.0\n');
  }, 60_000);
});

describe('gavel chat against a real stack', () => {
  let stack: TestStack;
  const clis: CliProcess[] = [];
  let apiUrl = '';
  let broadcastUrl = '';

  function cli(user: string, extra: string[] = []): CliProcess {
    const c = startCli(['--url', apiUrl, '--broadcast-url', broadcastUrl, '--user', user, ...extra]);
    clis.push(c);
    return c;
  }

  beforeAll(async () => {
    stack = await TestStack.start({
      startupMs: STARTUP_MS,
      env: {
        // A bid in the last 30 s (the default window) pushes the end to 8 s after it.
        api: { EXTEND_BY_S: '8' },
        // A small room cap makes "the server refused" easy to provoke; a short reconnect jitter
        // keeps the drain step quick.
        broadcast: { MAX_ROOMS_PER_CONNECTION: '3', RECONNECT_JITTER_MS: '300' },
      },
    });
    apiUrl = stack.url('api');
    broadcastUrl = stack.url('broadcast');
  }, 180_000);

  afterAll(async () => {
    for (const c of clis) c.child.kill('SIGKILL');
    await stack?.stop();
  });

  it('joins, chats, sends private messages, lists rooms, watches bids and quits cleanly', async () => {
    const alice = cli('alice');
    const bob = cli('bob');
    await alice.expectLine(`* connected to ${broadcastUrl} as alice`);
    await bob.expectLine(`* connected to ${broadcastUrl} as bob`);

    alice.send('/join lobby');
    await alice.expectLine('* joined lobby (now the current room)');
    bob.send('/join lobby');
    await bob.expectLine('* joined lobby (now the current room)');
    await alice.expectLine('[lobby] * bob joined');

    // Plain text and /chat both go to the current room; the sender sees its line once.
    alice.send('hello bob');
    await bob.expectLine('[lobby] alice: hello bob');
    bob.send('/chat hi alice');
    await alice.expectLine('[lobby] bob: hi alice');
    expect(alice.count('[lobby] alice (you): hello bob')).toBe(1);

    bob.send('/private alice psst, a secret');
    await alice.expectLine('[dm] bob → you: psst, a secret');
    await bob.expectLine('[dm] you → alice: psst, a secret');

    alice.send('/rooms');
    await alice.expectLine(/^\[rooms\] .*lobby \(2\)/);
    alice.send('/who');
    await alice.expectLine('[who lobby] alice, bob');

    // Bids go through the api; a watcher sees them live.
    bob.send('/watch gavel_item');
    await bob.expectLine('* watching gavel_item');
    alice.send('/bid gavel_item 12.50');
    // Nobody opened gavel_item: the first bid opens it, once alice says so.
    await alice.expectLine(/^\? no auction "gavel_item" exists\./);
    alice.send('y');
    await alice.expectLine('* bid accepted: gavel_item #1 at 12.50');
    await bob.expectLine('[bid gavel_item #1] alice 12.50');
    bob.send('/bid gavel_item 13');
    // Bob watches the item he bids on: the bid event and the api's answer race each other.
    await bob.expectLinesInAnyOrder([
      '* bid accepted: gavel_item #2 at 13.00',
      '[bid gavel_item #2] bob 13.00',
    ]);
    alice.send('/bid gavel_item 5');
    await alice.expectLine(/^error: bid too low: the highest bid is 13\.00, bid at least \d+\.\d\d$/);

    // A newcomer sees the room's history (through archival and the api) on joining.
    const carol = cli('carol', ['--history', '5']);
    await carol.expectLine(`* connected to ${broadcastUrl} as carol`);
    await waitFor(async () => (await roomMessages('lobby')).length === 2, {
      what: 'chat history in PostgreSQL',
      timeoutMs: 20_000,
    });
    carol.send('/join lobby');
    await carol.expectLine(/^\[lobby\] alice: hello bob {2}\(earlier, \d\d:\d\d:\d\d\)$/);
    await carol.expectLine(/^\[lobby\] bob: hi alice {2}\(earlier, /);
    carol.send('/quit');
    expect(await carol.exited).toBe(0);
    await bob.expectLine('[lobby] * carol left');

    alice.send('/leave lobby');
    await alice.expectLine('* left lobby');
    await bob.expectLine('[lobby] * alice left');
    alice.send('/quit');
    bob.send('/quit');
    expect(await alice.exited).toBe(0);
    expect(await bob.exited).toBe(0);
    expect(alice.output).toContain('bye');
  }, 240_000);

  it('prints clear errors for bad commands and refusals, and keeps going', async () => {
    const dave = cli('dave');
    await dave.expectLine(`* connected to ${broadcastUrl} as dave`);
    dave.send('/dance');
    await dave.expectLine('error: unknown command "/dance" (type /help for the list)');
    dave.send('/join');
    await dave.expectLine('error: missing room (usage: /join ROOM)');
    dave.send('/join no.dots');
    await dave.expectLine(/^error: "no\.dots" is not a valid room id/);
    dave.send('just talking');
    await dave.expectLine('error: join a room first: /join ROOM');
    dave.send('/private');
    await dave.expectLine('error: missing user and text (usage: /private USER TEXT)');
    dave.send('/bid x 1.234');
    await dave.expectLine(/^error: bad amount "1\.234"/);
    dave.send('/help');
    await dave.expectLine(/^ {2}\/private USER TEXT +send a direct message/);
    // The broadcast here allows 3 rooms per connection: the fourth is refused by the server.
    for (const room of ['r1', 'r2', 'r3']) {
      dave.send(`/join ${room}`);
      await dave.expectLine(`* joined ${room} (now the current room)`);
    }
    dave.send('/join r4');
    await dave.expectLine('error: server refused room:join: at most 3 rooms and items per connection');
    // Still alive and answering after all that.
    dave.send('/who');
    await dave.expectLine('[who r3] dave');
    dave.child.stdin?.end();
    expect(await dave.exited).toBe(0);
  }, 180_000);

  it('exits non-zero with a reason when it cannot sign in or connect', async () => {
    const closedPort = await freePort();
    const noApi = startCli(['--url', `http://127.0.0.1:${closedPort}`, '--user', 'erin']);
    expect(await noApi.exited).toBe(1);
    expect(noApi.output).toMatch(
      /^error: cannot sign in as erin: cannot reach the api at http:\/\/127\.0\.0\.1:\d+ \(ECONNREFUSED\)/m,
    );

    const noBroadcast = startCli([
      '--url',
      apiUrl,
      '--broadcast-url',
      `http://127.0.0.1:${closedPort}`,
      '--user',
      'erin',
    ]);
    expect(await noBroadcast.exited).toBe(1);
    expect(noBroadcast.output).toMatch(
      /^error: cannot reach the broadcast service at http:\/\/127\.0\.0\.1:\d+/m,
    );

    const forged = startCli([
      '--url',
      apiUrl,
      '--broadcast-url',
      broadcastUrl,
      '--token',
      'not.a.jwt',
      '--user',
      'erin',
    ]);
    expect(await forged.exited).toBe(1);
    expect(forged.output).toContain('error: the server refused the token (unauthorized)');

    const badUser = startCli(['--url', apiUrl, '--user', 'no spaces']);
    expect(await badUser.exited).toBe(1);
    expect(badUser.output).toMatch(/^error: cannot sign in as no spaces: rejected: /m);
  }, 180_000);

  it('resumes its rooms and watched items, missing no bid or message, across a crash and a drain', async () => {
    // A second replica keeps gina connected while frank's replica is down.
    const replica = await stack.spawn('broadcast', { port: await freePort() });
    const frank = cli('frank');
    const gina = startCli(['--url', apiUrl, '--broadcast-url', replica.url, '--user', 'gina']);
    clis.push(gina);
    await frank.expectLine(`* connected to ${broadcastUrl} as frank`);
    await gina.expectLine(`* connected to ${replica.url} as gina`);
    frank.send('/join hall');
    await frank.expectLine('* joined hall (now the current room)');
    gina.send('/join hall');
    await gina.expectLine('* joined hall (now the current room)');
    await frank.expectLine('[hall] * gina joined');
    frank.send('/watch resume_item');
    await frank.expectLine('* watching resume_item');
    gina.send('/bid resume_item 3');
    await gina.expectLine(/^\? no auction "resume_item" exists\./);
    gina.send('yes');
    await frank.expectLine('[bid resume_item #1] gina 3.00');

    await stack.process('broadcast').kill('SIGKILL');
    await frank.expectLine(/^\* disconnected \(transport (close|error)\), reconnecting…$/);
    // While frank is away: bids (through the api) and a chat message (through the other replica).
    gina.send('/bid resume_item 4');
    await gina.expectLine('* bid accepted: resume_item #2 at 4.00');
    gina.send('/bid resume_item 5.25');
    await gina.expectLine('* bid accepted: resume_item #3 at 5.25');
    gina.send('anyone here?');
    await gina.expectLine('[hall] gina (you): anyone here?');
    await waitFor(async () => (await roomMessages('hall')).some((m) => m.text === 'anyone here?'), {
      what: 'the message in the history',
      timeoutMs: 30_000,
    });

    // Order between the replayed bids and the history lines is not fixed: check each from here.
    // (Marked before the restart: the replay can arrive in the same chunk as "reconnected".)
    const mark = frank.output.length;
    const restarted = await stack.spawn('broadcast');
    await frank.expectLine(/^\* reconnected/, 60_000);
    await waitFor(
      () =>
        ['[bid resume_item #2] gina 4.00', '[bid resume_item #3] gina 5.25'].every((l) =>
          frank.output.slice(mark).split('\n').includes(l),
        ) && /^\[hall\] gina: anyone here\? {2}\(earlier, /m.test(frank.output.slice(mark)),
      { what: `missed bids and chat; output:\n${frank.output}`, timeoutMs: 30_000 },
    );
    // Rejoined on its own: live chat reaches frank again.
    gina.send('are you back?');
    await frank.expectLine('[hall] gina: are you back?');

    // A drain (SIGTERM, as in a rolling or blue/green deploy): told, moved, still watching.
    const drained = restarted.kill('SIGTERM');
    await frank.expectLine(/^\* server is draining: moving to another server in \d+ ms$/);
    await drained; // the old server exits once its clients have left
    await stack.spawn('broadcast');
    await frank.expectLine(/^\* reconnected/, 60_000);
    gina.send('/bid resume_item 6');
    await frank.expectLine('[bid resume_item #4] gina 6.00');
    for (const seq of [1, 2, 3, 4]) {
      const lines = frank.output.split('\n').filter((l) => l.startsWith(`[bid resume_item #${seq}]`));
      expect(lines).toHaveLength(1);
    }
    expect(frank.output.split('\n').filter((l) => l.includes('gina: anyone here?'))).toHaveLength(1);
    frank.send('/quit');
    gina.send('/quit');
    expect(await frank.exited).toBe(0);
    expect(await gina.exited).toBe(0);
  }, 400_000);

  it('says when a member takes it out of a private room, and forgets the room', async () => {
    const created = await callAs('olga', 'POST', '/api/v1/rooms', {
      id: 'cli_secret',
      private: true,
      members: ['nina'],
    });
    expect(created.status).toBe(201);
    const nina = cli('nina');
    await nina.expectLine(`* connected to ${broadcastUrl} as nina`);
    nina.send('/join hall_n');
    await nina.expectLine('* joined hall_n (now the current room)');
    nina.send('/join cli_secret');
    await nina.expectLine('* joined cli_secret (now the current room)');
    const removed = await callAs('olga', 'DELETE', '/api/v1/rooms/cli_secret/members/nina');
    expect(removed.status).toBe(200);
    await nina.expectLine('* you were removed from cli_secret (current room: hall_n)');
    // A private room is not there for a non-member: joining it again is refused.
    nina.send('/join cli_secret');
    await nina.expectLine(/^error: server refused room:join: /);
    nina.send('/who');
    await nina.expectLine(/^\[who hall_n\] nina/);
    nina.child.stdin?.end();
    expect(await nina.exited).toBe(0);
  }, 120_000);

  it('keeps direct messages for a user who is away and shows them, with receipts, when they start', async () => {
    const lena = cli('lena');
    await lena.expectLine(`* connected to ${broadcastUrl} as lena`);
    // mia has never connected: the messages wait for her.
    lena.send('/private mia first, while you are away');
    await lena.expectLine('[dm] you → mia: first, while you are away');
    lena.send('/private mia second');
    await lena.expectLine('[dm] you → mia: second');
    const mia = cli('mia', ['--device', 'phone']);
    await mia.expectLine(`* connected to ${broadcastUrl} as mia`);
    await mia.expectLine('[dm] lena → you: first, while you are away');
    await mia.expectLine('[dm] lena → you: second');
    await lena.expectLine('[dm] delivered to mia');
    await lena.expectLine('[dm] delivered to mia');
    mia.send('/quit');
    expect(await mia.exited).toBe(0);
    // The same device again: nothing twice; a message sent meanwhile arrives.
    lena.send('/private mia third');
    await lena.expectLine('[dm] you → mia: third');
    const again = cli('mia', ['--device', 'phone']);
    await again.expectLine(`* connected to ${broadcastUrl} as mia`);
    await again.expectLine('[dm] lena → you: third');
    again.send('/quit');
    expect(await again.exited).toBe(0);
    expect(again.count('[dm] lena → you: first, while you are away')).toBe(0);
    lena.send('/quit');
    expect(await lena.exited).toBe(0);
  }, 240_000);

  /** A call to the api as `userId` (a dev token of theirs). */
  async function callAs(userId: string, method: string, path: string, body?: unknown): Promise<Response> {
    const tokenRes = await fetch(`${apiUrl}/api/v1/dev/token`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ userId }),
    });
    const { token } = (await tokenRes.json()) as { token: string };
    return fetch(`${apiUrl}${path}`, {
      method,
      headers: {
        authorization: `Bearer ${token}`,
        ...(body === undefined ? {} : { 'content-type': 'application/json' }),
      },
      ...(body === undefined ? {} : { body: JSON.stringify(body) }),
    });
  }

  /** A room's stored chat, read as a signed-in user (every history route needs a token). */
  async function roomMessages(roomId: string): Promise<{ text: string }[]> {
    const res = await callAs('history-reader', 'GET', `/api/v1/rooms/${roomId}/messages`);
    expect(res.status).toBe(200);
    return ((await res.json()) as { messages: { text: string }[] }).messages;
  }

  async function createItem(id: string, title: string): Promise<void> {
    const res = await callAs('seller', 'POST', '/api/v1/items', {
      id,
      title,
      startingPrice: '10',
      minIncrement: '1',
      endsAt: Date.now() + 3_600_000,
    });
    expect(res.status).toBe(201);
  }

  it('lists open auctions by number, watches and bids by number, and asks before a bid opens an auction', async () => {
    await createItem('brass_telescope', 'Brass telescope');
    await createItem('pocket_watch', 'Pocket watch');
    const ola = cli('ola');
    await ola.expectLine(`* connected to ${broadcastUrl} as ola`);
    ola.send('/items');
    await ola.expectLine(/^\[items\] \d+ open auctions \(by number: \/watch 1, \/bid 1 AMOUNT\)$/);
    const line = await ola.expectLine(
      /^ +\d+\. Pocket watch — no bids, starts at 10\.00, 59m \d\ds left {2}\[pocket_watch\]$/,
    );
    const number = /^ +(\d+)\./.exec(line)?.[1];
    expect(number).toBeDefined();

    ola.send(`/watch ${number}`);
    await ola.expectLine('* watching pocket_watch');
    ola.send(`/bid ${number} 15`);
    await ola.expectLinesInAnyOrder([
      '* bid accepted: pocket_watch #1 at 15.00',
      '[bid pocket_watch #1] ola 15.00',
    ]);

    // A typo must not open an auction: the CLI asks, and "no" places nothing.
    ola.send('/bid pocket_wacth 5');
    await ola.expectLine(
      '? no auction "pocket_wacth" exists. Open a new one with your bid of 5 as its first? [y/N]',
    );
    ola.send('n');
    await ola.expectLine('* no bid placed (type /items for the open auctions)');
    expect((await fetch(`${apiUrl}/api/v1/items/pocket_wacth`)).status).toBe(404);

    // "yes" opens it (this api opens an item on its first bid); the next bid asks nothing.
    ola.send('/bid garden_gnome 5');
    await ola.expectLine(/^\? no auction "garden_gnome" exists\./);
    ola.send('y');
    await ola.expectLine('* bid accepted: garden_gnome #1 at 5.00');
    ola.send('/bid garden_gnome 6');
    await ola.expectLine('* bid accepted: garden_gnome #2 at 6.00');
    expect(ola.output.split('\n').filter((l) => l.startsWith('? '))).toHaveLength(2);
    ola.send('/quit');
    expect(await ola.exited).toBe(0);
  }, 180_000);

  it('completes commands and names with Tab on a terminal', async () => {
    await createItem('tabbable_item', 'Tabbable item');
    // `script` runs the CLI on a pseudo-terminal: readline sees a TTY, prompts and completes.
    const command = [
      process.execPath,
      BIN,
      'chat',
      '--url',
      apiUrl,
      '--broadcast-url',
      broadcastUrl,
      '--user',
      'pat',
    ]
      .map((a) => `'${a}'`)
      .join(' ');
    const child = spawn('script', ['-qfec', command, '/dev/null'], { stdio: ['pipe', 'pipe', 'pipe'] });
    const term = new CliProcess(child);
    clis.push(term);
    const screen = () => stripVTControlCharacters(term.output);
    const seen = (text: string) =>
      waitFor(() => screen().includes(text), {
        what: `"${text}" on the terminal:\n${screen()}`,
        timeoutMs: 60_000,
      });
    await seen('type /help for commands (Tab completes them)');
    await seen('pat> ');
    // Tab alone, as a person presses it: readline completes what was typed so far.
    child.stdin?.write('/ite');
    await seen('pat> /ite');
    child.stdin?.write('\t');
    await seen('pat> /items ');
    child.stdin?.write('\r');
    await seen('[tabbable_item]');
    child.stdin?.write('/watch tabb');
    await seen('pat> /watch tabb');
    child.stdin?.write('\t');
    await seen('/watch tabbable_item ');
    child.stdin?.write('\r');
    await seen('* watching tabbable_item');
    child.stdin?.write('/quit\r');
    await seen('bye');
    expect(await term.exited).toBe(0);
  }, 180_000);

  it('prints extensions and the close of a watched item', async () => {
    const jay = cli('jay');
    await jay.expectLine(`* connected to ${broadcastUrl} as jay`);
    jay.send('/watch closing_item');
    await jay.expectLine('* watching closing_item');

    const tokenRes = await fetch(`${apiUrl}/api/v1/dev/token`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ userId: 'kim' }),
    });
    const { token } = (await tokenRes.json()) as { token: string };
    const post = (path: string, body: unknown) =>
      fetch(`${apiUrl}${path}`, {
        method: 'POST',
        headers: { 'content-type': 'application/json', authorization: `Bearer ${token}` },
        body: JSON.stringify(body),
      });
    // Ends in 5 s; the bid right after falls inside the extension window and pushes the end.
    const created = await post('/api/v1/items', {
      id: 'closing_item',
      title: 'Last-minute lamp',
      startingPrice: '5',
      minIncrement: '1',
      endsAt: Date.now() + 5000,
    });
    expect(created.status).toBe(201);
    const bid = await post('/api/v1/items/closing_item/bid', { amount: '7.00' });
    expect(bid.status).toBe(201);
    expect(((await bid.json()) as { extended: boolean }).extended).toBe(true);

    await jay.expectLine('[bid closing_item #1] kim 7.00');
    await jay.expectLine(/^\[item closing_item\] extended: now ends at \d\d:\d\d:\d\d$/);
    await jay.expectLine('[item closing_item] closed: won by kim at 7.00, 1 bid', 60_000);
    jay.send('/bid closing_item 9');
    await jay.expectLine('error: auction closed: no more bids on this item');
    jay.send('/quit');
    expect(await jay.exited).toBe(0);
  }, 240_000);

  /**
   * Another api replica of the stack, whose dev tokens last DEV_TOKEN_TTL_S (seconds, not hours)
   * and whose Redis link runs through a fault proxy: a CLI signed in through it must renew its
   * token on the live connection, and its bids can lose their answer (the proxy holds Redis'
   * replies) or never reach Redis (the proxy cuts the link).
   */
  describe('sessions longer than their token, and bids whose answer is lost', () => {
    const TOKEN_TTL_S = 20;
    let proxy: FaultProxy;
    let replica: ServiceProcess;

    beforeAll(async () => {
      ({ replica, proxy } = await stack.spawnApiBehindFaultProxy({
        DEV_TOKEN_TTL_S: String(TOKEN_TTL_S),
        DEV_TOKEN_RATE_LIMIT_PER_MIN: '10000',
      }));
    }, 180_000);

    function cliOnReplica(args: string[]): CliProcess {
      const c = startCli(['--url', replica.url, '--broadcast-url', broadcastUrl, ...args]);
      clis.push(c);
      return c;
    }

    const bidCount = async (id: string) =>
      ((await (await fetch(`${apiUrl}/api/v1/items/${id}`)).json()) as { bidCount: number }).bidCount;
    const replicaReady = async () => (await fetch(`${replica.url}/readyz`)).status === 200;

    it('renews its dev token on the live connection and keeps chatting and bidding past the first one', async () => {
      await createItem('renewal_lamp', 'Renewal lamp');
      // The first token is minted after this: it ends no later than TOKEN_TTL_S from now.
      const firstEndsBy = Date.now() + TOKEN_TTL_S * 1000;
      const nora = cliOnReplica(['--user', 'nora']);
      const omar = cli('omar');
      await nora.expectLine(`* connected to ${broadcastUrl} as nora`);
      await omar.expectLine(`* connected to ${broadcastUrl} as omar`);
      for (const c of [nora, omar]) {
        c.send('/join renewal_room');
        await c.expectLine('* joined renewal_room (now the current room)');
      }
      nora.send('/watch renewal_lamp');
      await nora.expectLine('* watching renewal_lamp');

      await nora.expectLine(/^\* sign-in renewed, valid until \d\d:\d\d:\d\d$/, (TOKEN_TTL_S + 30) * 1000);
      // Past the first token's end (broadcast would have closed a connection that kept it).
      await waitFor(() => Date.now() > firstEndsBy + 2000, {
        timeoutMs: (TOKEN_TTL_S + 30) * 1000,
        what: "the first token's end to pass",
      });
      omar.send('/bid renewal_lamp 12');
      await omar.expectLine('* bid accepted: renewal_lamp #1 at 12.00');
      await nora.expectLine('[bid renewal_lamp #1] omar 12.00');
      nora.send('still here after my first token');
      await omar.expectLine('[renewal_room] nora: still here after my first token');
      omar.send('welcome back');
      await nora.expectLine('[renewal_room] omar: welcome back');
      // The api takes the renewed token too (the first one it would refuse now).
      nora.send('/bid renewal_lamp 15');
      await nora.expectLinesInAnyOrder([
        '* bid accepted: renewal_lamp #2 at 15.00',
        '[bid renewal_lamp #2] nora 15.00',
      ]);
      expect(nora.output).not.toMatch(/disconnected|^error|warning/m);
      nora.send('/quit');
      omar.send('/quit');
      expect(await nora.exited).toBe(0);
      expect(await omar.exited).toBe(0);
    }, 240_000);

    it('with a --token it cannot renew: warns before the end, then says it expired and how to get a new one', async () => {
      const token = await signToken(stack.secret, 'quinn', { expiresInSeconds: TOKEN_TTL_S });
      const quinn = startCli(['--url', apiUrl, '--broadcast-url', broadcastUrl, '--token', token]);
      clis.push(quinn);
      await quinn.expectLine(`* connected to ${broadcastUrl} as quinn`);
      quinn.send('/join lonely_room');
      await quinn.expectLine('* joined lonely_room (now the current room)');
      await quinn.expectLine(
        /^warning: your token expires at \d\d:\d\d:\d\d \(in \d+s\) and a token given with --token cannot be renewed here: get a fresh one and start again with --token NEW \(or --user USER where the api issues dev tokens\)$/,
        (TOKEN_TTL_S + 30) * 1000,
      );
      await quinn.expectLine(
        'error: your sign-in expired and the server closed the connection. Get a fresh token and start again: gavel chat --token NEW (or --user USER where the api issues dev tokens)',
        (TOKEN_TTL_S + 30) * 1000,
      );
      expect(await quinn.exited).toBe(1);
      expect(quinn.output).not.toContain('reconnecting');
      expect(quinn.output).not.toContain('bye');
    }, 180_000);

    it('asks again about a bid whose answer was lost, with the same Idempotency-Key, and counts it once', async () => {
      await createItem('lost_answer_clock', 'Lost answer clock');
      const pia = cliOnReplica(['--user', 'pia']);
      await pia.expectLine(`* connected to ${broadcastUrl} as pia`);
      // Known first, so that the bid asks no question.
      pia.send('/watch lost_answer_clock');
      await pia.expectLine('* watching lost_answer_clock');

      // Redis runs the bid; its answer is held back, so the api says outcome_unknown.
      proxy.holdReplies();
      try {
        pia.send('/bid lost_answer_clock 13');
        await pia.expectLine(
          '* no answer on whether the bid counted (outcome unknown): checking again in 1 s with the same Idempotency-Key (try 2 of 5)…',
        );
      } finally {
        proxy.restore();
      }
      await pia.expectLine('* bid accepted: lost_answer_clock #1 at 13.00', 60_000);
      // The bid event may come before the answer, even before the first try's 503: the stack's
      // own api relays what Redis stored.
      await waitFor(() => pia.count('[bid lost_answer_clock #1] pia 13.00') === 1, {
        what: `the bid event; output:\n${pia.output}`,
      });
      expect(pia.count('* bid accepted: lost_answer_clock #1 at 13.00')).toBe(1);
      expect(await bidCount('lost_answer_clock')).toBe(1);
      // A second bid is a new one, with a key of its own: it counts as well.
      pia.send('/bid lost_answer_clock 14');
      await pia.expectLinesInAnyOrder([
        '* bid accepted: lost_answer_clock #2 at 14.00',
        '[bid lost_answer_clock #2] pia 14.00',
      ]);
      expect(pia.output).not.toMatch(/^error/m);
      pia.send('/quit');
      expect(await pia.exited).toBe(0);
    }, 180_000);

    it('says a bid that never reached Redis was not placed, and does not ask again', async () => {
      await createItem('unreachable_vase', 'Unreachable vase');
      const ray = cliOnReplica(['--user', 'ray']);
      await ray.expectLine(`* connected to ${broadcastUrl} as ray`);
      ray.send('/watch unreachable_vase');
      await ray.expectLine('* watching unreachable_vase');
      proxy.cut();
      try {
        await waitFor(async () => !(await replicaReady()), {
          timeoutMs: 30_000,
          what: 'the replica to see Redis gone',
        });
        ray.send('/bid unreachable_vase 14');
        await ray.expectLine(
          'error: bid not placed: the service is unavailable right now, try again shortly',
        );
      } finally {
        proxy.restore();
      }
      expect(ray.output).not.toContain('checking again');
      expect(await bidCount('unreachable_vase')).toBe(0);
      await waitFor(replicaReady, { timeoutMs: 30_000, what: 'the replica to reach Redis again' });
      ray.send('/quit');
      expect(await ray.exited).toBe(0);
    }, 180_000);
  });
});
