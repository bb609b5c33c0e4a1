import { COMMANDS } from './command-parser.js';

/** What Tab can complete besides command names: names the session has seen. */
export interface CompletionSources {
  /** Rooms joined or listed. */
  readonly rooms: () => Iterable<string>;
  /** Item ids from the last /items list and the watched items. */
  readonly items: () => Iterable<string>;
  /** Users seen in rooms and direct messages. */
  readonly users: () => Iterable<string>;
}

/** Which argument of which command takes which kind of name. */
const FIRST_ARGUMENT: Readonly<Record<string, keyof CompletionSources>> = {
  join: 'rooms',
  leave: 'rooms',
  who: 'rooms',
  watch: 'items',
  unwatch: 'items',
  bid: 'items',
  private: 'users',
  msg: 'users',
  dm: 'users',
};

/**
 * A readline completer: `/wa` → `/watch `, `/join lo` → `/join lobby`, `/bid br` → the item ids
 * starting with "br". Returns readline's pair: the candidates and the part of the line they
 * replace. Plain chat text completes nothing.
 */
export function completeLine(line: string, sources: CompletionSources): [string[], string] {
  if (!line.startsWith('/')) return [[], line];
  const match = /^\/(\S*)(\s+)?(\S*)$/.exec(line);
  if (!match) return [[], line];
  const [, word = '', space, arg = ''] = match;
  if (space === undefined) {
    const names = Object.keys(COMMANDS).filter((name) => name.startsWith(word.toLowerCase()));
    return [names.map((name) => `/${name} `), line];
  }
  const kind = FIRST_ARGUMENT[word.toLowerCase()];
  if (!kind) return [[], arg];
  const seen = new Set(sources[kind]());
  const hits = [...seen].filter((name) => name.startsWith(arg)).sort();
  return [hits.map((name) => `${name} `), arg];
}
