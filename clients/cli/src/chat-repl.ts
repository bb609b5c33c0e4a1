import { clearLine, createInterface, cursorTo, type Interface } from 'node:readline';
import { ApiClient, ApiError } from './api-client.js';
import { broadcastUrlFor } from './broadcast-url.js';
import { ChatSession, CommandError, type SessionEnd } from './chat-session.js';
import { parseCommand } from './command-parser.js';
import { completeLine } from './completion.js';
import { SessionRenewal } from './session-renewal.js';
import { tokenClaims } from './token-lifetime.js';

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
  /** This device's name, for DM catch-up. @default "default" */
  readonly device?: string;
}

/** What to do once the server ended the session (see SessionEnd), in one line. */
function endedText(why: SessionEnd, renewal: SessionRenewal): string {
  const what =
    why === 'expired'
      ? 'your sign-in expired and the server closed the connection'
      : 'the server no longer accepts your token (it expired while the connection was down)';
  if (!renewal.renewable) {
    return (
      `error: ${what}. Get a fresh token and start again: gavel chat --token NEW ` +
      '(or --user USER where the api issues dev tokens)'
    );
  }
  const failure = renewal.lastFailure ? ` (renewing it failed: ${renewal.lastFailure})` : '';
  return `error: ${what}${failure}. Start gavel chat again to sign in anew`;
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

  // Dev tokens come from the api without one; every other call carries the session's token.
  const signIn = new ApiClient(options.url);
  let token = options.token;
  const userId = options.user ?? (token ? tokenClaims(token).sub : undefined);
  if (!userId) {
    err('error: give --user USER (or a --token issued to a user)');
    return 1;
  }
  // A token given with --token is kept as it is; one the CLI minted it can mint again.
  const minted = token === undefined;
  try {
    token ??= await signIn.devToken(userId);
  } catch (e) {
    err(`error: cannot sign in as ${userId}: ${(e as Error).message}`);
    return 1;
  }
  const api = signIn.withToken(token);

  /** The input's lines, one at a time: the command loop and a question share them. */
  const input: { lines?: AsyncIterator<string> } = {};
  const confirm = async (question: string): Promise<boolean> => {
    const lines = input.lines;
    if (!lines) return false;
    // On a terminal the question's line is followed by this prompt, where the answer is typed.
    rl?.setPrompt('y/N> ');
    out(`? ${question}`);
    const answer = await lines.next();
    rl?.setPrompt(`${userId}> `);
    return !answer.done && /^\s*y(es)?\s*$/i.test(answer.value);
  };

  const session = new ChatSession({
    broadcastUrl: broadcastUrlFor(options.url, options.broadcastUrl),
    token,
    userId,
    api,
    print: out,
    printError: err,
    historyLimit: options.history,
    confirm,
    ...(options.device ? { deviceId: options.device } : {}),
  });
  try {
    await session.connect();
  } catch (e) {
    err(`error: ${(e as Error).message}`);
    return 1;
  }
  const renewal = new SessionRenewal({
    token,
    ...(minted ? { mint: () => signIn.devToken(userId) } : {}),
    apply: async (fresh) => {
      await session.renewToken(fresh);
      api.useToken(fresh);
    },
    print: out,
    printError: err,
  });
  renewal.start();
  out('type /help for commands (Tab completes them)');

  rl = createInterface({
    input: process.stdin,
    output: tty ? process.stdout : undefined,
    terminal: tty,
    completer: (line: string) => completeLine(line, session.completions),
  });
  rl.setPrompt(`${userId}> `);
  const lines = rl[Symbol.asyncIterator]();
  input.lines = lines;
  if (tty) rl.prompt();
  // The server ending the session ends the command loop, with a line on what to do.
  let endedBy: SessionEnd | undefined;
  const ended = session.ended.then((why): IteratorResult<string> => {
    endedBy = why;
    return { done: true, value: undefined };
  });
  const nextLine = () => Promise.race([lines.next(), ended]);
  try {
    // Lines are handled one at a time, in order, even when a whole script arrives at once.
    for (let next = await nextLine(); !next.done; next = await nextLine()) {
      const parsed = parseCommand(next.value);
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
    renewal.stop();
    rl.close();
    rl = undefined;
    session.close();
  }
  if (endedBy) {
    err(endedText(endedBy, renewal));
    return 1;
  }
  out('bye');
  return 0;
}
