// Waits until every service's /readyz answers 200: the moment `npm start` can say "ready".

/**
 * @param {{ name: string, url: string }[]} services base URLs
 * @param {{ timeoutMs?: number, intervalMs?: number, signal?: AbortSignal }} [options]
 * @returns {Promise<void>} rejects naming what is still not ready when the time is up
 */
export async function waitUntilReady(services, options = {}) {
  const deadline = Date.now() + (options.timeoutMs ?? 180_000);
  const pending = new Map(services.map((s) => [s.name, s.url]));
  const lastSeen = new Map();
  while (pending.size > 0) {
    options.signal?.throwIfAborted();
    await Promise.all(
      [...pending].map(async ([name, url]) => {
        try {
          const res = await fetch(`${url}/readyz`, { signal: AbortSignal.timeout(2000) });
          lastSeen.set(name, `HTTP ${res.status}: ${(await res.text()).slice(0, 200)}`);
          if (res.ok) pending.delete(name);
        } catch (err) {
          lastSeen.set(name, err instanceof Error ? err.message : String(err));
        }
      }),
    );
    if (pending.size === 0) return;
    if (Date.now() > deadline) {
      const detail = [...pending.keys()].map((n) => `${n} (${lastSeen.get(n)})`).join(', ');
      throw new Error(`not ready after ${Math.round((options.timeoutMs ?? 180_000) / 1000)} s: ${detail}`);
    }
    await new Promise((r) => setTimeout(r, options.intervalMs ?? 250));
  }
}
