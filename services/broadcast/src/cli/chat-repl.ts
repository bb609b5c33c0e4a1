import { clearLine, createInterface, cursorTo, type Interface } from 'node:readline';
import { ApiClient, ApiError } from './api-client.js';
import { broadcastUrlFor } from './broadcast-url.js';
import { ChatSession, CommandError } from './chat-session.js';
import { parseCommand } from './command-parser.js';

export interface ChatOptions {
  /** The api's base URL, e.g. http://127.0.0.1:8080. */
  readonly url: string;
  /** Sign in as this user through the api's dev token route. */
  readonly user?: string;
  /** Use this token instead of asking the api for a dev token. */
  readonly token?: string;
  /** Broadcast service origin. @default derived from `url` (8080 → 8081, otherwise the same origin) */
  readonly broadcastUrl?: string;
  /** Chat history lines shown on /join. @default 10 */
  readonly history?: number;
}

/** The user id a token was issued to (its `sub`), read without verifying: the server verifies. */
function tokenSubject(token: string): string | undefined {
  try {
    const payload = JSON.parse(Buffer.from(token.split('.')[1] ?? '', 'base64url').toString()) as {
      sub?: unknown;
    };
    return typeof payload.sub === 'string' ? payload.sub : undefined;
  } catch {
    return undefined;
  }
}

/**
 * `gavel chat`: signs in, connects, then reads commands line by line until /quit or end of input.
 * Returns the process exit code: 0 after /quit, 1 when it could not sign in or connect.
 */
export async function runChat(options: ChatOptions): Promise<number> {
  // On a terminal, lines that arrive while the user types go above the prompt, which is redrawn
  // with what was typed so far; piped input (scripts, tests) gets plain lines and no prompt.
  const tty = Boolean(process.stdin.isTTY && process.stdout.isTTY);
  let rl: Interface | undefined;
  const write = (stream: NodeJS.WriteStream, line: string) => {
    if (!tty || !rl) {
      stream.write(`${line}\n`);
      return;
    }
    clearLine(process.stdout, 0);
    cursorTo(process.stdout, 0);
    stream.write(`${line}\n`);
    rl.prompt(true);
  };
  const out = (line: string) => write(process.stdout, line);
  const err = (line: string) => write(process.stderr, line);

  let api = new ApiClient(options.url);
  let token = options.token;
  const userId = options.user ?? (token ? tokenSubject(token) : undefined);
  if (!userId) {
    err('error: give --user USER (or a --token issued to a user)');
    return 1;
  }
  try {
    token ??= await api.devToken(userId);
  } catch (e) {
    err(`error: cannot sign in as ${userId}: ${(e as Error).message}`);
    return 1;
  }
  api = api.withToken(token);

  const session = new ChatSession({
    broadcastUrl: broadcastUrlFor(options.url, options.broadcastUrl),
    token,
    userId,
    api,
    print: out,
    printError: err,
    historyLimit: options.history,
  });
  try {
    await session.connect();
  } catch (e) {
    err(`error: ${(e as Error).message}`);
    return 1;
  }
  out('type /help for commands');

  rl = createInterface({ input: process.stdin, output: tty ? process.stdout : undefined, terminal: tty });
  rl.setPrompt(`${userId}> `);
  if (tty) rl.prompt();
  try {
    // Lines are handled one at a time, in order, even when a whole script arrives at once.
    for await (const line of rl) {
      const parsed = parseCommand(line);
      if (!parsed.ok) {
        err(`error: ${parsed.error}`);
        continue;
      }
      try {
        if (!(await session.execute(parsed.command))) break;
      } catch (e) {
        if (e instanceof CommandError || e instanceof ApiError) err(`error: ${e.message}`);
        else throw e;
      }
      if (tty) rl.prompt();
    }
  } finally {
    rl.close();
    rl = undefined;
    session.close();
  }
  out('bye');
  return 0;
}
