import { existsSync, mkdirSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { chromium, type Browser, type Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { connect } from 'nats';
import { encodeEvent, makeEvent, subjects } from '@gavel/shared';
import { TEST_NATS_URL, TestStack, uniqueId } from '@gavel/shared/testing';

/**
 * The web page in a real headless Chromium (Debian's `chromium` package, driven by playwright-core)
 * against real api, broadcast and archival processes: two browser contexts are two users.
 */

const CHROMIUM = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium';
const ARTIFACTS = fileURLToPath(new URL('../test-results/', import.meta.url));
/** Generous: this bounds a hang, it does not measure speed. */
const UI_TIMEOUT_MS = 20_000;

describe('web page', () => {
  let stack: TestStack;
  let browser: Browser;
  let pageUrl = '';
  let apiUrl = '';

  beforeAll(async () => {
    stack = await TestStack.start({
      env: {
        // A bid in the last 30 s (the default window) pushes the end to 8 s after it.
        api: { EXTEND_BY_S: '8' },
        // A short reconnect jitter keeps the drain step quick.
        broadcast: { RECONNECT_JITTER_MS: '300' },
      },
    });
    // The api serves the page; locally broadcast is on another port, which ?broadcast= names.
    apiUrl = stack.url('api');
    pageUrl = `${apiUrl}/?broadcast=${encodeURIComponent(stack.url('broadcast'))}`;
    if (!existsSync(CHROMIUM)) {
      throw new Error(
        `no Chromium at ${CHROMIUM}: install Debian's package (apt-get install -y chromium) or set CHROMIUM_PATH`,
      );
    }
    browser = await chromium.launch({
      executablePath: CHROMIUM,
      args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking'],
    });
  }, 180_000);

  afterAll(async () => {
    await browser?.close();
    await stack?.stop();
  });

  async function openAs(userId: string, hash = ''): Promise<Page> {
    const context = await browser.newContext({
      locale: 'en-US',
      timezoneId: 'UTC',
      viewport: { width: 1280, height: 860 },
    });
    const page = await context.newPage();
    page.setDefaultTimeout(UI_TIMEOUT_MS);
    const problems: string[] = [];
    page.on('pageerror', (err) => problems.push(String(err)));
    await page.goto(`${pageUrl}${hash}`);
    await page.getByLabel('User id').fill(userId);
    await page.getByRole('button', { name: 'Sign in' }).click();
    await page
      .getByRole('status', { name: 'Connection' })
      .filter({ hasText: /^connected$/ })
      .waitFor();
    await page.getByText(`Signed in as ${userId}`).waitFor();
    expect(problems).toEqual([]);
    return page;
  }

  it('two users see each other’s bids, chat and presence live', async () => {
    const alice = await openAs('alice');

    // Bad input is refused readably and creates nothing.
    await alice.getByText('Create an item').click();
    await alice.getByLabel('Title').fill('Vintage typewriter');
    await alice.getByLabel('Starting price').fill('ten');
    await alice.getByRole('button', { name: 'Create item' }).click();
    await alice
      .getByRole('alert')
      .filter({ hasText: /That was not accepted: .*startingPrice/ })
      .waitFor();
    expect(await alice.getByRole('list', { name: 'Items' }).getByRole('listitem').count()).toBe(0);

    await alice.getByLabel('Starting price').fill('10.00');
    await alice.getByLabel('Minimum increment').fill('0.50');
    await alice.getByRole('button', { name: 'Create item' }).click();
    await alice.getByRole('heading', { name: 'Vintage typewriter' }).waitFor();
    const hash = new URL(alice.url()).hash;
    expect(hash).toMatch(/^#\/items\/[A-Za-z0-9_-]+$/);
    await alice
      .getByRole('list', { name: 'Items' })
      .getByRole('link', { name: /Vintage typewriter/ })
      .waitFor();

    const bob = await openAs('bob', hash);
    await bob.getByRole('heading', { name: 'Vintage typewriter' }).waitFor();

    // Presence: each page lists both users in the item's room.
    for (const page of [alice, bob]) {
      const online = page.getByRole('list', { name: 'Online users' });
      await online.getByRole('listitem').filter({ hasText: 'alice' }).waitFor();
      await online.getByRole('listitem').filter({ hasText: 'bob' }).waitFor();
    }

    // A bid placed by alice appears in bob's live list and headline.
    await alice.getByLabel('Your bid').fill('12.50');
    await alice.getByRole('button', { name: 'Place bid' }).click();
    const bobBids = bob.getByRole('list', { name: 'Bids' });
    await bobBids.getByRole('listitem').filter({ hasText: 'alice' }).filter({ hasText: '12.50' }).waitFor();
    await bob.getByLabel('Highest bid').filter({ hasText: '12.50 by alice' }).waitFor();
    expect(await bobBids.getByRole('listitem').first().textContent()).toMatch(/^#1alice12\.50/);

    // A low bid gets a readable 409 and changes nothing.
    await bob.getByLabel('Your bid').fill('5');
    await bob.getByRole('button', { name: 'Place bid' }).click();
    await bob
      .getByRole('alert')
      .filter({ hasText: 'Bid too low. The highest bid is 12.50. Bid at least 13.00.' })
      .waitFor();
    expect(await bobBids.getByRole('listitem').count()).toBe(1);

    // Bob outbids; alice sees it live.
    await bob.getByLabel('Your bid').fill('1000.00');
    await bob.getByRole('button', { name: 'Place bid' }).click();
    await alice
      .getByRole('list', { name: 'Bids' })
      .getByRole('listitem')
      .filter({ hasText: 'bob' })
      .filter({ hasText: '1,000.00' })
      .waitFor();
    await alice.getByLabel('Highest bid').filter({ hasText: '1,000.00 by bob' }).waitFor();

    // Chat in the item's room, both ways.
    await bob.getByRole('textbox', { name: 'Message' }).fill('Does it still type?');
    await bob.getByRole('button', { name: 'Send' }).click();
    await alice.getByRole('log', { name: 'Messages' }).getByText('Does it still type?').waitFor();
    await alice.getByRole('textbox', { name: 'Message' }).fill('Like new <b>really</b>');
    await alice.getByRole('button', { name: 'Send' }).click();
    // Text stays text: markup in a message is shown, never interpreted.
    await bob.getByRole('log', { name: 'Messages' }).getByText('Like new <b>really</b>').waitFor();
    expect(await bob.getByRole('log', { name: 'Messages' }).locator('b').count()).toBe(0);

    // Where the page connects: the ALB's one origin, 8080 → 8081 locally, and ?broadcast= only for
    // the page's own host (the sign-in token goes there).
    const hrefs = [
      'https://gavel.example.com/',
      'http://127.0.0.1:8080/',
      'http://127.0.0.1:8080/?broadcast=http://127.0.0.1:9000',
      'http://127.0.0.1:8080/?broadcast=https://evil.example.net',
      'http://127.0.0.1:8080/?broadcast=javascript:alert(1)',
    ];
    // A string, not a function: vitest would rewrite a dynamic import() inside a function.
    const origins = await alice.evaluate(`import('/connection.js').then((m) =>
      ${JSON.stringify(hrefs)}.map((href) => m.broadcastOrigin(new URL(href))))`);
    expect(origins).toEqual([
      'https://gavel.example.com',
      'http://127.0.0.1:8081',
      'http://127.0.0.1:9000',
      'http://127.0.0.1:8081',
      'http://127.0.0.1:8081',
    ]);

    mkdirSync(ARTIFACTS, { recursive: true });
    await alice.screenshot({ path: `${ARTIFACTS}web-page-alice.png`, fullPage: true });
    await bob.screenshot({ path: `${ARTIFACTS}web-page-bob.png`, fullPage: true });

    // A third user arriving later gets the bids (replayed by broadcast) and the chat history
    // (archival → PostgreSQL → api), and the others see carol arrive.
    const carol = await openAs('carol', hash);
    const carolLog = carol.getByRole('log', { name: 'Messages' });
    await carolLog.getByText('Does it still type?').waitFor();
    await carolLog.getByText('Like new <b>really</b>').waitFor();
    const carolBids = carol.getByRole('list', { name: 'Bids' }).getByRole('listitem');
    await carolBids.filter({ hasText: '#2' }).filter({ hasText: '1,000.00' }).waitFor();
    await carolBids.filter({ hasText: '#1' }).filter({ hasText: '12.50' }).waitFor();
    expect(await carolBids.count()).toBe(2);
    await alice
      .getByRole('list', { name: 'Online users' })
      .getByRole('listitem')
      .filter({ hasText: 'carol' })
      .waitFor();
    await carol.context().close();
    await alice
      .getByRole('list', { name: 'Online users' })
      .getByRole('listitem')
      .filter({ hasText: 'carol' })
      .waitFor({ state: 'detached' });
  }, 180_000);

  async function token(userId: string): Promise<string> {
    const res = await fetch(`${apiUrl}/api/v1/dev/token`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ userId }),
    });
    return ((await res.json()) as { token: string }).token;
  }

  async function post(path: string, bearer: string, body: unknown): Promise<Record<string, unknown>> {
    const res = await fetch(`${apiUrl}${path}`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', authorization: `Bearer ${bearer}` },
      body: JSON.stringify(body),
    });
    expect(res.status).toBe(201);
    return (await res.json()) as Record<string, unknown>;
  }

  it('shows an extension and the close with its winner', async () => {
    const ivy = await openAs('ivy', '#/items/closing_item');
    await ivy.getByText('not open yet').waitFor();
    const hal = await token('hal');
    // Ends in 5 s; the bid right after falls inside the extension window and pushes the end.
    await post('/api/v1/items', hal, {
      id: 'closing_item',
      title: 'Last-minute lamp',
      startingPrice: '5.00',
      minIncrement: '1.00',
      endsAt: Date.now() + 5000,
    });
    const accepted = await post('/api/v1/items/closing_item/bid', hal, { amount: '7.00' });
    expect(accepted.extended).toBe(true);

    await ivy.getByRole('heading', { name: 'Last-minute lamp' }).waitFor();
    await ivy.getByLabel('Highest bid').filter({ hasText: '7.00 by hal' }).waitFor();
    await ivy.locator(`time#item-ends[datetime="${String(accepted.endsAt)}"]`).waitFor();
    await ivy.getByText('closed', { exact: true }).waitFor({ timeout: 60_000 });
    await ivy.getByText('Won by hal at 7.00').waitFor();
    expect(await ivy.getByRole('button', { name: 'Place bid' }).isVisible()).toBe(false);
    await ivy.context().close();
  }, 120_000);

  it('shows the connection state and misses no bid or message across a broadcast crash and a drain', async () => {
    const erin = await token('erin');
    const bid = async (amount: string) => {
      const res = await fetch(`${apiUrl}/api/v1/items/restart_item/bid`, {
        method: 'POST',
        headers: { 'content-type': 'application/json', authorization: `Bearer ${erin}` },
        body: JSON.stringify({ amount }),
      });
      expect(res.status).toBe(201);
    };
    await bid('20.00'); // AUTO_OPEN_ITEMS opens the item on its first bid

    const dave = await openAs('dave', '#/items/restart_item');
    const bids = dave.getByRole('list', { name: 'Bids' }).getByRole('listitem');
    await bids.filter({ hasText: '#1' }).filter({ hasText: '20.00' }).waitFor();

    await stack.process('broadcast').kill('SIGKILL');
    const state = dave.getByRole('status', { name: 'Connection' });
    await state.filter({ hasText: 'reconnecting…' }).waitFor();

    // Accepted while the page had no live connection: it must get them on reconnecting.
    await bid('21.00');
    await bid('22.50');
    // A message stored meanwhile (as if sent through another broadcast replica). With the history
    // out of reach from now on, it can only come from the re-join's replay after the chat cursor.
    await dave.route('**/api/v1/rooms/**', (route) => route.abort());
    const nc = await connect({ servers: TEST_NATS_URL });
    try {
      const missed = makeEvent('chat.message', {
        roomId: 'restart_item',
        userId: 'erin',
        text: 'sent while you were away',
        clientMsgId: uniqueId('away'),
      });
      await nc
        .jetstream()
        .publish(subjects(stack.topology).chat('restart_item'), encodeEvent(missed), { msgID: missed.id });
    } finally {
      await nc.close();
    }
    const restarted = await stack.spawn('broadcast');
    await state.filter({ hasText: /^connected$/ }).waitFor({ timeout: 60_000 });
    await bids.filter({ hasText: '#3' }).filter({ hasText: '22.50' }).waitFor();
    expect(await bids.allTextContents()).toEqual([
      expect.stringMatching(/^#3erin22\.50/),
      expect.stringMatching(/^#2erin21\.00/),
      expect.stringMatching(/^#1erin20\.00/),
    ]);
    await dave.getByLabel('Highest bid').filter({ hasText: '22.50 by erin' }).waitFor();
    await dave.getByRole('log', { name: 'Messages' }).getByText('sent while you were away').waitFor();

    // A drain (SIGTERM, as in a rolling or blue/green deploy) shows, and the page moves on.
    const drained = restarted.kill('SIGTERM');
    await state.filter({ hasText: 'draining — moving to another server…' }).waitFor();
    await drained; // the old server exits once its clients have left
    await stack.spawn('broadcast');
    await state.filter({ hasText: /^connected$/ }).waitFor({ timeout: 60_000 });
    await bid('23.00');
    await bids.filter({ hasText: '#4' }).filter({ hasText: '23.00' }).waitFor();
    expect(await bids.count()).toBe(4);
    await dave.context().close();
  }, 180_000);
});
