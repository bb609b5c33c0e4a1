import { createRequire } from 'node:module';
import { Command, InvalidArgumentError } from 'commander';
import { runChat } from './chat-repl.js';

/** Entry of the `gavel` command (bin/gavel.js loads this from dist or, without a build, from source). */

function positiveInt(value: string): number {
  const n = Number(value);
  if (!Number.isInteger(n) || n < 0) throw new InvalidArgumentError('must be a whole number ≥ 0');
  return n;
}

// From src/ or dist/ alike, the package's own manifest is one level up.
const { version } = createRequire(import.meta.url)('../package.json') as { version: string };

const program = new Command('gavel').description('Gavel command-line client').version(version);

program
  .command('chat')
  .description(
    'interactive chat, bids and live auctions (seed 003 commands: /join /chat /private /rooms /quit)',
  )
  .requiredOption('--url <url>', "the api's base URL", 'http://127.0.0.1:8080')
  .option('--user <id>', 'sign in as this user (needs DEV_TOKENS=true on the api)')
  .option('--token <jwt>', 'use this token instead of a dev token (not renewed: the session ends at its exp)')
  .option(
    '--broadcast-url <url>',
    'broadcast origin (default: the api origin, or port 8081 when the api is on 8080)',
  )
  .option('--history <n>', 'chat history lines shown on /join', positiveInt, 10)
  .option('--device <id>', 'name of this device: direct messages missed while away arrive at the next start')
  .action(
    async (opts: {
      url: string;
      user?: string;
      token?: string;
      broadcastUrl?: string;
      history: number;
      device?: string;
    }) => {
      process.exitCode = await runChat(opts);
      // socket.io-client may hold timers for a moment after disconnecting: do not wait for them.
      process.exit();
    },
  );

await program.parseAsync(process.argv);
