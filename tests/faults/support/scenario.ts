import { expect } from 'vitest';
import { Traffic, type TrafficOptions, type VerifyReport } from './traffic.js';
import type { FaultWorld } from './fault-world.js';

/**
 * One fault under steady traffic: traffic starts and flows, `fault` breaks something and
 * repairs it, traffic flows again, stops, and every client's view is checked against what
 * PostgreSQL stored and what every watcher received: 0 lost, 0 duplicated, 0 gaps.
 */
export async function underTraffic(
  world: FaultWorld,
  fault: (traffic: Traffic) => Promise<void>,
  options: TrafficOptions = {},
): Promise<VerifyReport> {
  const traffic = new Traffic(world, options);
  try {
    await traffic.start();
    await traffic.flowing();
    await fault(traffic);
    // Recovered: new bids, chats and DMs go through again.
    await traffic.flowing();
    await traffic.stop();
    const report = await traffic.verify();
    // Shown with the test's output: what the fault did to clients, and how much was checked.
    console.log(
      `${expect.getState().currentTestName}: ${report.bids} bids, ${report.chats} chats, ${report.dms} DMs checked; ` +
        `retries: ${JSON.stringify(Object.fromEntries(traffic.retries))}`,
    );
    expect(report.problems).toEqual([]);
    expect(report.bids).toBeGreaterThan(0);
    return report;
  } catch (err) {
    // What the services said, for the failure message.
    console.log(`services at failure: ${JSON.stringify(world.pids())}\n${world.outputs()}`);
    throw err;
  } finally {
    traffic.close();
  }
}
