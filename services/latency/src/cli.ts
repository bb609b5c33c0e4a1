#!/usr/bin/env node
import { createRequire } from 'node:module';
import { resolve } from 'node:path';
import { Command, Option } from 'commander';
import { configOrExit, createLogger, handleShutdown, LATENCY_AGENT_PORT } from '@gavel/shared';
import { loadAgentConfig } from './agent/agent-config.js';
import { createAgentServer } from './agent/agent-server.js';
import {
  MAX_DURATION_S,
  UsageError,
  parseCompareOptions,
  parseE2eOptions,
  parseRunOptions,
} from './client/cli-options.js';
import { runCompareCommand } from './client/compare-command.js';
import { runE2eCommand } from './client/e2e-command.js';
import { runEchoCommand, type CommandIo } from './client/echo-command.js';
import { runReportCommand } from './client/report-command.js';
import { TargetError } from './client/probe-transport.js';

const io: CommandIo = {
  stdout: (text) => process.stdout.write(text),
  stderr: (text) => process.stderr.write(text),
};

// First Ctrl-C / SIGTERM ends the run early and still reports; a second one exits at once.
const controller = new AbortController();
const onSignal = () => {
  if (controller.signal.aborted) process.exit(130);
  controller.abort();
};
process.on('SIGINT', onSignal);
process.on('SIGTERM', onSignal);

const collect = (value: string, previous: string[] = []) => [...previous, value];

async function run(action: () => Promise<number>): Promise<void> {
  try {
    process.exitCode = await action();
  } catch (err) {
    if (err instanceof UsageError) {
      io.stderr(`gavel-latency: error: ${err.message}\n`);
      process.exitCode = 2;
    } else if (err instanceof TargetError) {
      io.stderr(`gavel-latency: error: ${err.message}\n`);
      process.exitCode = 1;
    } else {
      io.stderr(`gavel-latency: error: ${err instanceof Error ? err.message : String(err)}\n`);
      process.exitCode = 1;
    }
  }
  // Sockets of a failed connect attempt may linger; the answer is already out.
  setTimeout(() => process.exit(), 200).unref();
}

// From src/ or dist/ alike, the workspace's package.json is one level up.
const { version } = createRequire(import.meta.url)('../package.json') as { version: string };

const program = new Command()
  .name('gavel-latency')
  .version(version)
  .description(
    'WebSocket latency lab: constant-rate, coordinated-omission-safe echo load and end-to-end bid latency',
  )
  .showHelpAfterError();

program
  .command('run', { isDefault: true })
  .description('echo load against one target, or several in turn (compare mode)')
  .option(
    '-t, --target <url>',
    'ws://host:8090/echo (raw), http://host:8090 (Socket.IO), tcp://host:port; repeat to compare',
    collect,
  )
  .option(
    '-l, --label <name>',
    'name of the matching --target in reports (pod-ip, clusterip, nlb, alb ...)',
    collect,
  )
  .addOption(
    new Option('-p, --protocol <protocol>', 'override what the URL scheme implies').choices([
      'ws',
      'socket.io',
      'tcp',
    ]),
  )
  .option('-c, --connections <n>', 'connections per target', '10')
  .option('-r, --rate <msgPerS>', 'total messages per second over all connections', '1000')
  .option('-s, --payload <bytes>', 'message size (at least 24)', '64')
  .option('-w, --warmup <s>', 'seconds at full rate before measuring', '2')
  .option('-d, --duration <s>', `seconds measured (at most ${MAX_DURATION_S})`, '10')
  .option('-o, --out <dir>', 'write latency.json, latency-<label>.hgrm and latency.svg there')
  .option('--json', 'print the JSON summary on stdout (table and progress go to stderr)')
  .option('--no-progress', 'no live progress bar')
  .option('--drain-timeout <ms>', 'wait this long for the last replies', '5000')
  .option('--connect-timeout <ms>', 'give up connecting after this long', '5000')
  .option('--loop', 'repeat until SIGTERM (Deployment mode), logging each summary')
  .option('--serve-metrics <port>', 'with --loop: serve /metrics, /livez, /readyz on this port')
  .option('--pause <s>', 'with --loop: pause between runs', '0')
  .action(async (flags: Record<string, unknown>) => {
    await run(() => runEchoCommand(parseRunOptions({ target: [], ...flags }), io, controller.signal));
  });

program
  .command('e2e')
  .description('bid accepted by the api -> `bid` event at K Socket.IO watchers of broadcast')
  .option('--api <url>', 'api base URL', 'http://127.0.0.1:8080')
  .option('--broadcast <url>', 'broadcast base URL (Socket.IO at /socket.io)', 'http://127.0.0.1:8081')
  .option('-k, --watchers <n>', 'Socket.IO watchers of the item', '10')
  .option('--bidders <n>', 'bidding users the bids rotate over', '5')
  .option('-r, --rate <bidsPerS>', 'bids per second', '5')
  .option('-w, --warmup <s>', 'seconds of bids before measuring', '2')
  .option('-d, --duration <s>', `seconds measured (at most ${MAX_DURATION_S})`, '10')
  .option(
    '--auth-secret <secret>',
    'sign tokens locally (HS256) instead of POST /api/v1/dev/token; or GAVEL_AUTH_SECRET',
  )
  .option('-o, --out <dir>', 'write e2e.json, e2e-*.hgrm and e2e.svg there')
  .option('--json', 'print the JSON summary on stdout')
  .option('--no-progress', 'no live progress bar')
  .option('--drain-timeout <ms>', 'wait this long for the last events', '5000')
  .option('--connect-timeout <ms>', 'give up connecting after this long', '5000')
  .action(async (flags: Record<string, unknown>) => {
    const authSecret = flags.authSecret ?? process.env.GAVEL_AUTH_SECRET;
    await run(() =>
      runE2eCommand(
        parseE2eOptions({ ...flags, authSecret: authSecret || undefined }),
        io,
        controller.signal,
      ),
    );
  });

program
  .command('compare')
  .description(
    'the same load against every path of the latency lab in turn (pod IP, ClusterIP, NLB, ALB, NLB and ALB over peering, PrivateLink), one report',
  )
  .requiredOption(
    '--targets-file <file>',
    'platform outputs JSON with a latencyLab block (npm run outputs -w platform), or that block alone',
  )
  .option('--agent-url <url>', "override the targets file's agent URL (the client VPC's paths run there)")
  .option('--only <labels>', 'comma-separated labels to measure, in the file order')
  .option('--rounds <n>', 'measure every path n times, interleaved, and merge each path', '1')
  .option('-c, --connections <n>', 'connections per path', '10')
  .option('-r, --rate <msgPerS>', 'total messages per second over all connections', '1000')
  .option('-s, --payload <bytes>', 'message size (at least 24)', '64')
  .option('-w, --warmup <s>', 'seconds at full rate before measuring', '2')
  .option('-d, --duration <s>', `seconds measured per path (at most ${MAX_DURATION_S})`, '10')
  .option('-o, --out <dir>', 'write latency.json, latency-<label>.hgrm and latency.svg there')
  .option('--json', 'print the JSON summary (histograms included) on stdout; the table goes to stderr')
  .option('--no-progress', 'no live progress bar')
  .option('--drain-timeout <ms>', 'wait this long for the last replies', '5000')
  .option('--connect-timeout <ms>', 'give up connecting after this long', '5000')
  .action(async (flags: Record<string, unknown>) => {
    // Paths as the user typed them, from where npm was started (npm run moves into the workspace).
    const from = process.env.INIT_CWD ?? process.cwd();
    const paths = {
      ...(typeof flags.targetsFile === 'string' ? { targetsFile: resolve(from, flags.targetsFile) } : {}),
      ...(typeof flags.out === 'string' ? { out: resolve(from, flags.out) } : {}),
    };
    await run(() => runCompareCommand(parseCompareOptions({ ...flags, ...paths }), io, controller.signal));
  });

program
  .command('report')
  .description("redraw a compare report from its JSON summary or the compare Job's log ('-' for stdin)")
  .argument('<file>', 'compare --json output, or a log that ends with it')
  .option('-o, --out <dir>', 'write latency.json, latency-<label>.hgrm and latency.svg there')
  .action(async (file: string, flags: { out?: string }) => {
    const from = process.env.INIT_CWD ?? process.cwd();
    await run(() =>
      runReportCommand(
        file === '-' ? file : resolve(from, file),
        flags.out ? { out: resolve(from, flags.out) } : {},
        io,
      ),
    );
  });

program
  .command('agent')
  .description('the client VPC agent: runs compare loads against LATENCY_AGENT_TARGETS on request')
  .option('--port <n>', 'listen port', String(LATENCY_AGENT_PORT))
  .option('--host <address>', 'listen address', '0.0.0.0')
  .action(async (flags: { port: string; host: string }) => {
    const config = configOrExit('latency-agent', () => loadAgentConfig());
    const port = Number(flags.port);
    if (!Number.isInteger(port) || port < 0 || port > 65535) {
      io.stderr('gavel-latency: error: --port must be a whole number from 0 to 65535\n');
      process.exit(2);
    }
    const logger = createLogger('latency-agent', config.LOG_LEVEL, config.LOG_FORMAT);
    const agent = createAgentServer({ targets: config.LATENCY_AGENT_TARGETS, logger });
    handleShutdown(() => agent.close(), { logger });
    await agent.listen({ port, host: flags.host });
    const address = agent.server.address();
    logger.info(
      {
        port: typeof address === 'object' && address ? address.port : port,
        targets: config.LATENCY_AGENT_TARGETS.map((t) => t.label),
      },
      'latency agent listening',
    );
  });

await program.parseAsync();
