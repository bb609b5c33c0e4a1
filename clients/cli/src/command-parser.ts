import { isId, parseAmount } from '@gavel/shared';

/**
 * The chat CLI's command language (seed 003's interactive client plus items and bids). Parsing is
 * pure so that it can be tested without a terminal or a server.
 */
export type Command =
  | { readonly kind: 'join'; readonly roomId: string }
  | { readonly kind: 'leave'; readonly roomId: string | undefined }
  | { readonly kind: 'chat'; readonly text: string }
  | { readonly kind: 'private'; readonly to: string; readonly text: string }
  | { readonly kind: 'rooms' }
  | { readonly kind: 'items' }
  | { readonly kind: 'watch'; readonly itemId: string }
  | { readonly kind: 'unwatch'; readonly itemId: string }
  | { readonly kind: 'bid'; readonly itemId: string; readonly amount: string; readonly amountCents: number }
  | { readonly kind: 'who'; readonly roomId: string | undefined }
  | { readonly kind: 'help' }
  | { readonly kind: 'quit' }
  | { readonly kind: 'none' };

export type ParseResult =
  { readonly ok: true; readonly command: Command } | { readonly ok: false; readonly error: string };

/** Matches the server's limit (SPEC: text ≤ 2,000 characters). */
export const MAX_TEXT_LENGTH = 2000;

interface CommandSpec {
  readonly usage: string;
  readonly summary: string;
}

export const COMMANDS: Readonly<Record<string, CommandSpec>> = {
  join: { usage: '/join ROOM', summary: 'join a room and make it the current one' },
  leave: { usage: '/leave [ROOM]', summary: 'leave a room (default: the current one)' },
  chat: { usage: '/chat TEXT', summary: 'say something in the current room (plain text does the same)' },
  private: { usage: '/private USER TEXT', summary: 'send a direct message to a user' },
  rooms: { usage: '/rooms', summary: 'list active rooms with their member counts' },
  items: { usage: '/items', summary: 'list open auctions, numbered: /watch 2 and /bid 2 15 use the numbers' },
  watch: { usage: '/watch ITEM', summary: 'show the live bids of an item (its id or its /items number)' },
  unwatch: { usage: '/unwatch ITEM', summary: 'stop showing the bids of an item' },
  bid: { usage: '/bid ITEM AMOUNT', summary: 'place a bid, e.g. /bid 2 12.50 or /bid item1 12.50' },
  who: { usage: '/who [ROOM]', summary: 'who is in a room (default: the current one)' },
  help: { usage: '/help', summary: 'show this help' },
  quit: { usage: '/quit', summary: 'disconnect and exit' },
};

const ALIASES: Readonly<Record<string, string>> = {
  msg: 'private',
  dm: 'private',
  exit: 'quit',
  '?': 'help',
};

export function helpText(): string {
  const width = Math.max(...Object.values(COMMANDS).map((c) => c.usage.length));
  return Object.values(COMMANDS)
    .map((c) => `  ${c.usage.padEnd(width)}  ${c.summary}`)
    .join('\n');
}

const ok = (command: Command): ParseResult => ({ ok: true, command });
const fail = (error: string): ParseResult => ({ ok: false, error });

function usageError(name: string, problem: string): ParseResult {
  return fail(`${problem} (usage: ${COMMANDS[name]?.usage ?? `/${name}`})`);
}

function checkText(name: string, text: string): string | undefined {
  if (text.length === 0) return `missing text (usage: ${COMMANDS[name]?.usage})`;
  if (text.length > MAX_TEXT_LENGTH)
    return `text is ${text.length} characters, the limit is ${MAX_TEXT_LENGTH}`;
  return undefined;
}

function checkId(what: string, value: string): string | undefined {
  return isId(value) ? undefined : `"${value}" is not a valid ${what} id: use 1-64 of A-Z a-z 0-9 _ -`;
}

/** Splits off the first whitespace-separated word. */
function firstWord(text: string): [string, string] {
  const match = /^(\S+)\s*([\s\S]*)$/.exec(text);
  return match ? [match[1] ?? '', match[2] ?? ''] : ['', ''];
}

/** Parses one input line. Text that does not start with "/" is a chat message. */
export function parseCommand(line: string): ParseResult {
  const input = line.trim();
  if (input.length === 0) return ok({ kind: 'none' });
  if (!input.startsWith('/')) {
    const problem = checkText('chat', input);
    return problem ? fail(problem) : ok({ kind: 'chat', text: input });
  }
  const [word, rest] = firstWord(input.slice(1));
  const name = ALIASES[word.toLowerCase()] ?? word.toLowerCase();
  const args = rest.trim();
  const words = args.length > 0 ? args.split(/\s+/) : [];

  switch (name) {
    case 'join':
    case 'leave':
    case 'who':
    case 'watch':
    case 'unwatch': {
      const optional = name === 'leave' || name === 'who';
      const what = name === 'watch' || name === 'unwatch' ? 'item' : 'room';
      const [id, extra] = words;
      if (id === undefined) {
        if (optional) return ok({ kind: name, roomId: undefined } as Command);
        return usageError(name, `missing ${what}`);
      }
      if (extra !== undefined) return usageError(name, 'too many arguments');
      const problem = checkId(what, id);
      if (problem) return fail(problem);
      if (name === 'watch' || name === 'unwatch') return ok({ kind: name, itemId: id });
      return ok({ kind: name, roomId: id });
    }
    case 'chat': {
      const problem = checkText('chat', args);
      return problem ? fail(problem) : ok({ kind: 'chat', text: args });
    }
    case 'private': {
      const [to, text] = firstWord(args);
      if (to === '') return usageError('private', 'missing user and text');
      const idProblem = checkId('user', to);
      if (idProblem) return fail(idProblem);
      const textProblem = checkText('private', text.trim());
      return textProblem ? fail(textProblem) : ok({ kind: 'private', to, text: text.trim() });
    }
    case 'bid': {
      const [itemId, amount, extra] = words;
      if (itemId === undefined) return usageError('bid', 'missing item and amount');
      if (amount === undefined) return usageError('bid', 'missing amount');
      if (extra !== undefined) return usageError('bid', 'too many arguments');
      const idProblem = checkId('item', itemId);
      if (idProblem) return fail(idProblem);
      const parsed = parseAmount(amount);
      if (!parsed.ok) return fail(`bad amount "${amount}": ${parsed.reason}`);
      return ok({ kind: 'bid', itemId, amount, amountCents: parsed.cents });
    }
    case 'rooms':
    case 'items':
    case 'help':
    case 'quit':
      if (words.length > 0) return usageError(name, `/${name} takes no arguments`);
      return ok({ kind: name });
    default:
      return fail(`unknown command "/${word}" (type /help for the list)`);
  }
}
