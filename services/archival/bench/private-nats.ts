import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { connect } from 'nats';
import { freePort, waitFor } from '@gavel/shared/testing';

/**
 * A nats-server with JetStream of the benchmark's own, on a free loopback port with its store in
 * a temporary directory: other engineers' tests on the shared server do not queue ahead of the
 * benchmark's deliveries and acks. (They still share the CPU.)
 */
export async function startPrivateNats(): Promise<{ url: string; pid: number; stop(): Promise<void> }> {
  const port = await freePort();
  const store = mkdtempSync(`${tmpdir()}/archival-bench-nats-`);
  const child = spawn('nats-server', ['-a', '127.0.0.1', '-p', String(port), '-js', '-sd', store], {
    stdio: ['ignore', 'ignore', 'pipe'],
  });
  let output = '';
  child.stderr.on('data', (d: Buffer) => (output += d.toString()));
  const exited = new Promise((resolve) => child.once('exit', resolve));
  const url = `nats://127.0.0.1:${port}`;
  await waitFor(
    async () => {
      if (child.exitCode !== null) throw new Error(`nats-server exited: ${output}`);
      const nc = await connect({ servers: url, timeout: 1000 });
      await nc.close();
      return true;
    },
    { timeoutMs: 20_000, intervalMs: 100, what: 'the private nats-server' },
  );
  return {
    url,
    pid: child.pid!,
    async stop() {
      child.kill('SIGTERM');
      await exited;
      rmSync(store, { recursive: true, force: true });
    },
  };
}
