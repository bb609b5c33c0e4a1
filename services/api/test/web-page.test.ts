import { existsSync, mkdirSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { chromium, type Browser, type BrowserContext, type Page } from 'playwright-core';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { connect } from 'nats';
import { encodeEvent, makeEvent, subjects } from '@gavel/shared';
import {
  FaultProxy,
  TEST_NATS_URL,
  TestStack,
  uniqueId,
  waitFor,
  type ServiceProcess,
} from '@gavel/shared/testing';

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

  const cspViolations: string[] = [];
  afterEach(() => {
    expect(cspViolations).toEqual([]);
  });

  /** A page of its own browser context (its own storage: another browser, another device). */
  async function visit(
    hash = '',
    {
      width = 1280,
      context,
      base = pageUrl,
    }: {
      width?: number;
      context?: BrowserContext;
      /** The page's URL before the hash. */ base?: string;
    } = {},
  ) {
    const ctx =
      context ??
      (await browser.newContext({ locale: 'en-US', timezoneId: 'UTC', viewport: { width, height: 860 } }));
    const page = await ctx.newPage();
    page.setDefaultTimeout(UI_TIMEOUT_MS);
    const problems: string[] = [];
    page.on('pageerror', (err) => problems.push(String(err)));
    // The page runs under the api's Content-Security-Policy: a blocked script, style or
    // connection shows up as a console error, which fails the test that opened the page.
    page.on('console', (msg) => {
      if (msg.type() === 'error' && /Content Security Policy/i.test(msg.text()))
        cspViolations.push(msg.text());
    });
    const response = await page.goto(`${base}${hash}`);
    expect(response?.headers()['content-security-policy']).toContain("frame-ancestors 'none'");
    return { page, problems };
  }

  async function signIn(page: Page, userId: string): Promise<void> {
    await page.getByLabel('User id').fill(userId);
    await page.getByRole('button', { name: 'Sign in' }).click();
    await page
      .getByRole('status', { name: 'Connection' })
      .filter({ hasText: /^connected$/ })
      .waitFor();
    await page.getByText(`Signed in as ${userId}`).waitFor();
  }

  async function openAs(
    userId: string,
    hash = '',
    options: { width?: number; context?: BrowserContext; base?: string } = {},
  ): Promise<Page> {
    const { page, problems } = await visit(hash, options);
    await signIn(page, userId);
    expect(problems).toEqual([]);
    return page;
  }

  /** Sends a chat message to the room on screen. */
  async function say(page: Page, text: string): Promise<void> {
    await page.getByRole('textbox', { name: 'Message', exact: true }).fill(text);
    await page.getByRole('form', { name: 'Send a message' }).getByRole('button', { name: 'Send' }).click();
  }

  /** What screen readers were told lately (the polite live region keeps the last few sentences). */
  function announced(page: Page) {
    return page.locator('#announcer');
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
    await say(bob, 'Does it still type?');
    await alice.getByRole('log', { name: 'Messages' }).getByText('Does it still type?').waitFor();
    await say(alice, 'Like new <b>really</b>');
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
    // The extension shows (the countdown flashes, a note stays) and is announced.
    await ivy.locator('#extensions').filter({ hasText: 'Extended once by late bids' }).waitFor();
    await announced(ivy)
      .filter({ hasText: /A late bid extended the auction: it now ends at \d\d:\d\d:\d\d/ })
      .waitFor();
    await ivy.getByText('closed', { exact: true }).waitFor({ timeout: 60_000 });
    await ivy.locator('#standing').filter({ hasText: 'Closed — won by hal at 7.00.' }).waitFor();
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
    // In the room before the crash (the join answered, so the page holds a chat cursor).
    await dave.getByRole('list', { name: 'Online users' }).getByText('dave (you)').waitFor();

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
  /** Presses Tab until the focused element is called `name`; returns what it passed on the way. */
  async function tabTo(page: Page, name: string, max = 120): Promise<string[]> {
    const seen: string[] = [];
    for (let i = 0; i < max; i++) {
      await page.keyboard.press('Tab');
      const label = String(
        await page.evaluate(`(() => {
          const a = document.activeElement;
          if (!a) return '';
          return (a.getAttribute('aria-label') || (a.labels && a.labels[0] && a.labels[0].textContent) ||
            a.textContent || '').trim().replace(/\\s+/g, ' ');
        })()`),
      );
      seen.push(label);
      if (label === name) return seen;
    }
    throw new Error(`Tab never reached "${name}"; it went through: ${seen.join(' | ')}`);
  }

  async function scrollWidth(page: Page): Promise<number> {
    return Number(await page.evaluate('document.documentElement.scrollWidth'));
  }

  it('tells each bidder where they stand, with one-click bids, confirmations and a live chart', async () => {
    const sam = await token('sam');
    const item = await post('/api/v1/items', sam, {
      title: 'Brass telescope',
      startingPrice: '10.00',
      minIncrement: '2.00',
      endsAt: Date.now() + 600_000,
    });
    const hash = `#/items/${String(item.id)}`;
    const amy = await openAs('amy', hash);
    const ben = await openAs('ben', hash);
    for (const page of [amy, ben]) await page.locator('#item-view[data-live="true"]').waitFor();

    // One click bids the minimum; the answer is confirmed and the standing says who leads.
    const quick = amy.getByRole('group', { name: 'Quick bids' }).getByRole('button');
    expect(await quick.evaluateAll((buttons) => buttons.map((b) => b.getAttribute('aria-label')))).toEqual([
      'Bid 10.00 (minimum)',
      'Bid 12.00 (+1 step)',
      'Bid 20.00 (+5 steps)',
    ]);
    await quick.filter({ hasText: '10.00' }).click();
    const amyConfirmation = amy.locator('#bid-confirmation');
    await amyConfirmation.filter({ hasText: "✓ Bid #1 accepted: 10.00. You're winning." }).waitFor();
    expect(await amyConfirmation.getAttribute('role')).toBe('status');
    await amy.locator('#standing').filter({ hasText: "You're winning at 10.00." }).waitFor();

    // Ben, who has not bid, hears of the bid, sees the new minimum and bids one step above it.
    await announced(ben).filter({ hasText: 'New bid on Brass telescope: 10.00 by amy.' }).waitFor();
    expect(await ben.locator('#standing').isHidden()).toBe(true);
    await ben.getByRole('button', { name: 'Bid 14.00 (+1 step)' }).click();
    await ben
      .locator('#bid-confirmation')
      .filter({ hasText: "✓ Bid #2 accepted: 14.00. You're winning." })
      .waitFor();

    // Amy is told she was outbid, on screen and to her screen reader; her old confirmation goes.
    await amy.locator('#standing').filter({ hasText: "You've been outbid by ben (14.00)." }).waitFor();
    expect(await amy.locator('#standing').getAttribute('data-kind')).toBe('outbid');
    await announced(amy).filter({ hasText: "You've been outbid by ben (14.00)." }).waitFor();
    expect(await amyConfirmation.textContent()).toBe('');

    // The chart follows live and says in words what it shows.
    const chart = amy.getByRole('img', { name: 'Price over time: 2 bids, from 10.00 to 14.00 (now ben).' });
    await chart.waitFor();
    expect(await chart.locator('circle.price-dot').count()).toBe(2);
    expect(await chart.locator('circle.price-dot.mine').count()).toBe(1);
    expect(await chart.locator('path.price-line').getAttribute('d')).toMatch(
      /^M[\d.]+,[\d.]+ H[\d.]+ V[\d.]+ H[\d.]+$/,
    );

    // The countdown is live: it changes while we look.
    const countdown = amy.locator('#countdown');
    const before = await countdown.textContent();
    expect(before).toMatch(/^\d+:\d\d left$/);
    await expect.poll(() => countdown.textContent(), { timeout: UI_TIMEOUT_MS }).not.toBe(before);

    // By keyboard alone: from the top, Tab reaches the minimum quick bid; Enter places it.
    // A reload keeps the sign-in (this tab's session) and starts the keyboard at the top.
    await amy.reload();
    await amy
      .getByRole('status', { name: 'Connection' })
      .filter({ hasText: /^connected$/ })
      .waitFor();
    await amy.getByRole('button', { name: 'Bid 16.00 (minimum)' }).waitFor();
    const path = await tabTo(amy, 'Bid 16.00 (minimum)');
    expect(path[0]).toBe('Skip to the auction');
    expect(path).toContain('Sign out');
    await amy.keyboard.press('Enter');
    await amyConfirmation.filter({ hasText: "✓ Bid #3 accepted: 16.00. You're winning." }).waitFor();
    await ben.locator('#standing').filter({ hasText: "You've been outbid by amy (16.00)." }).waitFor();
    // And on to the chat box, past the rest of the page.
    const rest = await tabTo(amy, 'Message');
    expect(rest).toContain('Place bid');
    expect(rest).toContain('Lobby');
    await amy.keyboard.type('typed without a mouse');
    await amy.keyboard.press('Enter');
    await ben.getByRole('log', { name: 'Messages' }).getByText('typed without a mouse').waitFor();
    await announced(ben).filter({ hasText: 'amy in Brass telescope: typed without a mouse' }).waitFor();

    mkdirSync(ARTIFACTS, { recursive: true });
    await amy.screenshot({ path: `${ARTIFACTS}web-page-standing.png`, fullPage: true });
    await amy.context().close();
    await ben.context().close();
  }, 180_000);

  it('direct messages: a conversation list with unread counts, messages kept while away, receipts; and the lobby', async () => {
    const yan = await openAs('yan');
    const zoeBrowser = await browser.newContext({
      locale: 'en-US',
      timezoneId: 'UTC',
      viewport: { width: 1280, height: 860 },
    });
    const reply = (page: Page) => page.getByRole('textbox', { name: 'Reply', exact: true });
    const sendDm = async (page: Page, text: string) => {
      await reply(page).fill(text);
      await page
        .getByRole('form', { name: 'Send a direct message' })
        .getByRole('button', { name: 'Send' })
        .click();
      await page.getByRole('list', { name: 'Conversation', exact: true }).getByText(text).waitFor();
    };

    // zoe has never been here: what yan sends waits for her.
    await yan.getByLabel('Start a conversation with').fill('zoe');
    await yan.getByRole('button', { name: 'Open', exact: true }).click();
    await yan.getByRole('heading', { name: 'With zoe' }).waitFor();
    await sendDm(yan, 'are you there?');
    await sendDm(yan, 'the telescope is yours if you want it');

    const zoe = await openAs('zoe', '', { context: zoeBrowser });
    const conversations = zoe.getByRole('list', { name: 'Conversations' });
    const fromYan = conversations.getByRole('button', { name: /^yan 2 unread the telescope is yours/ });
    await fromYan.waitFor();
    await zoe.getByRole('heading', { name: 'Direct messages 2 unread' }).waitFor();
    await announced(zoe).filter({ hasText: 'Direct message from yan: are you there?' }).waitFor();

    // Opening the conversation shows both, clears the count and tells yan they were read.
    await fromYan.click();
    const zoeLog = zoe.getByRole('list', { name: 'Conversation', exact: true });
    await zoeLog.getByText('are you there?').waitFor();
    await zoeLog.getByText('the telescope is yours if you want it').waitFor();
    await conversations.getByRole('button', { name: /^yan the telescope is yours/ }).waitFor();
    await zoe.getByRole('heading', { name: 'Direct messages', exact: true }).waitFor();
    const yanLog = yan.getByRole('list', { name: 'Conversation', exact: true });
    await yanLog.locator('.receipt.read').nth(1).waitFor();

    // A reply reaches yan's open conversation as read: no count, and zoe gets the receipt.
    await sendDm(zoe, 'yes please!');
    await yanLog.getByText('yes please!').waitFor();
    await zoeLog.locator('li', { hasText: 'yes please!' }).locator('.receipt.read').waitFor();
    await yan
      .getByRole('list', { name: 'Conversations' })
      .getByRole('button', { name: /^zoe yes please!/ })
      .waitFor();

    // Both are in the lobby; zoe closes her page and is gone from it.
    const yanLobby = yan.getByRole('list', { name: 'Online users' });
    await yanLobby.getByRole('listitem').filter({ hasText: 'zoe' }).waitFor();
    await zoe.close();
    await yanLobby.getByRole('listitem').filter({ hasText: 'zoe' }).waitFor({ state: 'detached' });

    // Sent while she is away; the same browser (the same device) gets it when she is back.
    await sendDm(yan, 'one more thing');
    const back = await openAs('zoe', '', { context: zoeBrowser });
    const list = back.getByRole('list', { name: 'Conversations' });
    await list.getByRole('button', { name: /^yan 1 unread one more thing/ }).click();
    const backLog = back.getByRole('list', { name: 'Conversation', exact: true });
    // The older messages come from the api's history of the conversation.
    for (const text of ['are you there?', 'yes please!', 'one more thing'])
      await backLog.getByText(text).waitFor();
    expect(await backLog.getByText('one more thing').count()).toBe(1);

    // The lobby: yan looks at an auction; zoe's hello shows as unread on his lobby tab.
    await yan.goto(`${pageUrl}#/items/lobby_side_item`);
    const rooms = yan.getByRole('group', { name: 'Chat rooms' });
    await rooms.getByRole('button', { name: /^Auction: lobby_side_item/, pressed: true }).waitFor();
    await back
      .getByRole('group', { name: 'Chat rooms' })
      .getByRole('button', { name: 'Lobby', pressed: true })
      .waitFor();
    await back.getByRole('list', { name: 'Online users' }).getByText('yan').waitFor();
    await say(back, 'hello lobby');
    await rooms.getByRole('button', { name: 'Lobby 1 unread' }).click();
    await yan.getByRole('log', { name: 'Messages' }).getByText('hello lobby').waitFor();
    await rooms.getByRole('button', { name: 'Lobby', exact: true, pressed: true }).waitFor();
    await announced(yan).filter({ hasText: 'zoe in the lobby: hello lobby' }).waitFor();

    mkdirSync(ARTIFACTS, { recursive: true });
    await back.screenshot({ path: `${ARTIFACTS}web-page-dms.png`, fullPage: true });
    await zoeBrowser.close();
    await yan.context().close();
  }, 240_000);

  it('signed out it invites rather than alarms, and at 390 px wide everything fits', async () => {
    const sam = await token('sam');
    const item = await post('/api/v1/items', sam, {
      title: 'Pocket watch',
      startingPrice: '11.00',
      minIncrement: '0.50',
      endsAt: Date.now() + 600_000,
    });
    const id = String(item.id);
    await post(`/api/v1/items/${id}/bid`, sam, { amount: '11.00' });

    const { page: visitor, problems } = await visit(`#/items/${id}`, { width: 390 });
    const state = visitor.getByRole('status', { name: 'Connection' });
    await state.filter({ hasText: 'not signed in' }).waitFor();
    expect(await state.getAttribute('data-state')).toBe('signed-out');
    await visitor
      .getByRole('region', { name: 'Welcome' })
      .getByText(/Sign in with any user id/)
      .waitFor();
    // The auction is there to look at, and how to join in; its stored bids are for signed-in
    // users (jwt mode: every history route needs a token), and the page says so.
    await visitor.getByRole('heading', { name: 'Pocket watch' }).waitFor();
    await visitor
      .locator('#bids-empty')
      .filter({ hasText: 'Sign in to see the bids.' })
      .waitFor({ timeout: 60_000 });
    await visitor.getByRole('img', { name: 'Price over time: sign in to see the bids.' }).waitFor();
    expect(await visitor.getByRole('list', { name: 'Bids' }).getByRole('listitem').count()).toBe(0);
    await visitor.getByText('Sign in to bid.').waitFor();
    expect(await visitor.getByRole('button', { name: 'Place bid' }).isDisabled()).toBe(true);
    expect(await visitor.locator('#quick-bids').isHidden()).toBe(true);
    await visitor.getByText('Sign in to send and receive direct messages.').waitFor();
    // Nothing reads as a failure.
    expect(await visitor.locator('[role="alert"]:not(:empty)').count()).toBe(0);
    expect(await scrollWidth(visitor)).toBeLessThanOrEqual(390);
    expect(problems).toEqual([]);

    await signIn(visitor, 'uma');
    expect(await visitor.getByRole('region', { name: 'Welcome' }).count()).toBe(0);
    // Signed in, the stored bid shows, in the list and the chart.
    await visitor
      .getByRole('list', { name: 'Bids' })
      .getByRole('listitem')
      .filter({ hasText: '11.00' })
      .waitFor({ timeout: 60_000 });
    await visitor.getByRole('img', { name: 'Price over time: 1 bid, 11.00 by sam.' }).waitFor();
    const quick = visitor.getByRole('button', { name: 'Bid 11.50 (minimum)' });
    await quick.waitFor();
    for (const control of [
      quick,
      visitor.getByRole('button', { name: 'Bid 14.00 (+5 steps)' }),
      visitor.getByRole('button', { name: 'Place bid' }),
      visitor.getByRole('button', { name: 'Sign out' }),
    ]) {
      const box = await control.boundingBox();
      expect(box).not.toBeNull();
      expect(box!.x).toBeGreaterThanOrEqual(0);
      expect(box!.x + box!.width).toBeLessThanOrEqual(390);
    }
    await quick.click();
    await visitor
      .locator('#bid-confirmation')
      .filter({ hasText: "✓ Bid #2 accepted: 11.50. You're winning." })
      .waitFor();
    expect(await scrollWidth(visitor)).toBeLessThanOrEqual(390);
    mkdirSync(ARTIFACTS, { recursive: true });
    await visitor.screenshot({ path: `${ARTIFACTS}web-page-390px.png`, fullPage: true });

    // No inline script anywhere on the page (the content security policy allows none).
    const html = await (await fetch(`${apiUrl}/`)).text();
    expect(html).not.toMatch(/<script(?![^>]*\ssrc=)[^>]*>/);
    expect(html).not.toMatch(/\son[a-z]+=/i);
    await visitor.context().close();
  }, 180_000);
  it('shows the API docs at /docs under the content security policy, scripts as strict as the page’s', async () => {
    const context = await browser.newContext({ viewport: { width: 1280, height: 860 } });
    const page = await context.newPage();
    page.setDefaultTimeout(UI_TIMEOUT_MS);
    page.on('console', (msg) => {
      if (msg.type() === 'error' && /Content Security Policy/i.test(msg.text()))
        cspViolations.push(msg.text());
    });
    const response = await page.goto(`${apiUrl}/docs`);
    const policy = response?.headers()['content-security-policy'] ?? '';
    // Only styles are relaxed for Swagger UI (it sets inline style attributes); scripts are not.
    expect(policy).toMatch(/script-src 'self'[^;]*(;|$)/);
    expect(/script-src[^;]*unsafe-inline/.test(policy)).toBe(false);
    expect(policy).toContain("style-src 'self' 'unsafe-inline'");
    await page.getByRole('heading', { name: /Gavel API/ }).waitFor();
    await page.getByText('/api/v1/items/{id}/bid', { exact: true }).click();
    await page.getByText('Accepted bids get the next seq of the item').waitFor();
    mkdirSync(ARTIFACTS, { recursive: true });
    await page.screenshot({ path: `${ARTIFACTS}api-docs.png` });
    await context.close();
  }, 120_000);

  /**
   * Another api replica of the stack, whose dev tokens last DEV_TOKEN_TTL_S (seconds, not hours)
   * and whose Redis link runs through a fault proxy: a page served by it must renew its token on
   * the live connection, and its bids can lose their answer (the proxy holds Redis' replies) or
   * never reach Redis (the proxy cuts the link).
   */
  describe('sessions longer than their token, and bids whose answer is lost', () => {
    const TOKEN_TTL_S = 15;
    let proxy: FaultProxy;
    let replica: ServiceProcess;
    let base = '';

    beforeAll(async () => {
      ({ replica, proxy } = await stack.spawnApiBehindFaultProxy({
        DEV_TOKEN_TTL_S: String(TOKEN_TTL_S),
        // Every page here renews every few seconds; the stack's other tests sign in too.
        DEV_TOKEN_RATE_LIMIT_PER_MIN: '10000',
      }));
      base = `${replica.url}/?broadcast=${encodeURIComponent(stack.url('broadcast'))}`;
    }, 180_000);

    const storedToken = async (page: Page) =>
      String(await page.evaluate('sessionStorage.getItem("gavel.token")'));
    const expOf = (token: string) =>
      1000 *
      (JSON.parse(Buffer.from(token.split('.')[1] ?? '', 'base64url').toString()) as { exp: number }).exp;
    const replicaReady = async () => (await fetch(`${replica.url}/readyz`)).status === 200;

    async function newItem(title: string): Promise<string> {
      const item = await post('/api/v1/items', await token('seller'), {
        title,
        startingPrice: '12.00',
        minIncrement: '1.00',
        endsAt: Date.now() + 600_000,
      });
      return String(item.id);
    }

    it('renews the token on the live connection before it ends, and keeps bidding and chatting past it', async () => {
      const id = await newItem('Long session lamp');
      const hash = `#/items/${id}`;
      const rita = await openAs('rita', hash, { base });
      const sol = await openAs('sol', hash);
      for (const page of [rita, sol]) await page.locator('#item-view[data-live="true"]').waitFor();
      const first = await storedToken(rita);
      expect(expOf(first) - Date.now()).toBeLessThanOrEqual(TOKEN_TTL_S * 1000);

      // Past the first token's end: broadcast would have closed a connection that kept it.
      await waitFor(() => Date.now() > expOf(first) + 2000, {
        timeoutMs: (TOKEN_TTL_S + 10) * 1000,
        what: "the first token's end to pass",
      });
      // Still signed in and connected, nothing to complain about, with a later token.
      expect(await rita.locator('#page-error').textContent()).toBe('');
      expect(await rita.getByRole('status', { name: 'Connection' }).textContent()).toMatch(
        /^\s*connected\s*$/,
      );
      await rita.getByText('Signed in as rita').waitFor();
      const renewed = await storedToken(rita);
      expect(renewed).not.toBe(first);
      expect(expOf(renewed)).toBeGreaterThan(expOf(first));

      // Live bids still arrive; its own bid goes out with the renewed token (the first is refused now).
      await post(`/api/v1/items/${id}/bid`, await token('sol'), { amount: '12.00' });
      const ritaBids = rita.getByRole('list', { name: 'Bids' }).getByRole('listitem');
      await ritaBids.filter({ hasText: 'sol' }).filter({ hasText: '12.00' }).waitFor();
      await rita.getByLabel('Your bid').fill('15.00');
      await rita.getByRole('button', { name: 'Place bid' }).click();
      await rita
        .locator('#bid-confirmation')
        .filter({ hasText: "✓ Bid #2 accepted: 15.00. You're winning." })
        .waitFor();
      await sol.getByLabel('Highest bid').filter({ hasText: '15.00 by rita' }).waitFor();
      // And chat, both ways.
      await say(rita, 'still here after my first token');
      await sol.getByRole('log', { name: 'Messages' }).getByText('still here after my first token').waitFor();
      await say(sol, 'welcome back');
      await rita.getByRole('log', { name: 'Messages' }).getByText('welcome back').waitFor();
      await rita.context().close();
      await sol.context().close();
    }, 180_000);

    it('says the session expired and shows the sign-in again when the renewal keeps failing', async () => {
      const vera = await openAs('vera', '', { base });
      const first = await storedToken(vera);
      // Sign-in works; from now on every renewal fails on the way (as if the network dropped it).
      await vera.route('**/api/v1/dev/token', (route) => route.abort());
      await vera
        .getByRole('alert')
        .filter({ hasText: /^Could not renew your sign-in \(.+\)\. Trying again…$/ })
        .waitFor({ timeout: (TOKEN_TTL_S + 10) * 1000 });
      await vera
        .getByRole('alert')
        .filter({ hasText: 'Your session expired. Sign in again to keep bidding and chatting.' })
        .waitFor({ timeout: (TOKEN_TTL_S + 20) * 1000 });
      expect(Date.now()).toBeGreaterThanOrEqual(expOf(first) - 1000);
      const state = vera.getByRole('status', { name: 'Connection' });
      await state.filter({ hasText: 'not signed in' }).waitFor();
      expect(await state.getAttribute('data-state')).toBe('signed-out');
      await vera.getByRole('button', { name: 'Sign in' }).waitFor();
      expect(await vera.getByRole('button', { name: 'Place bid' }).count()).toBe(0);
      expect(await vera.evaluate('sessionStorage.getItem("gavel.token")')).toBeNull();

      // Signing in again works at once.
      await vera.unroute('**/api/v1/dev/token');
      await signIn(vera, 'vera');
      await vera.context().close();
    }, 180_000);

    it('checks a bid whose answer was lost again with the same Idempotency-Key, and counts it once', async () => {
      const id = await newItem('Lost answer clock');
      const wade = await openAs('wade', `#/items/${id}`, { base });
      await wade.locator('#item-view[data-live="true"]').waitFor();
      const keys: string[] = [];
      wade.on('request', (request) => {
        if (request.method() === 'POST' && request.url().endsWith(`/api/v1/items/${id}/bid`))
          keys.push(request.headers()['idempotency-key'] ?? '');
      });

      // Redis runs the bid; its answer is held back, so the api says outcome_unknown.
      await wade.getByLabel('Your bid').fill('13.00');
      proxy.holdReplies();
      try {
        await wade.getByRole('button', { name: 'Place bid' }).click();
        await wade
          .getByRole('status', { name: 'Bid confirmation' })
          .filter({ hasText: 'Checking whether your bid went through…' })
          .waitFor();
        expect(await wade.getByRole('button', { name: 'Place bid' }).isDisabled()).toBe(true);
      } finally {
        proxy.restore();
      }
      await wade
        .locator('#bid-confirmation')
        .filter({ hasText: "✓ Bid #1 accepted: 13.00. You're winning." })
        .waitFor({ timeout: 60_000 });
      expect(keys.length).toBeGreaterThanOrEqual(2);
      expect(new Set(keys).size).toBe(1);
      expect(keys[0]).toMatch(/^[0-9a-f-]{36}$/);
      // Placed once: one bid on the page and in Redis, however many tries it took.
      const bids = wade.getByRole('list', { name: 'Bids' }).getByRole('listitem');
      expect(await bids.count()).toBe(1);
      const item = (await (await fetch(`${apiUrl}/api/v1/items/${id}`)).json()) as { bidCount: number };
      expect(item.bidCount).toBe(1);
      expect(await wade.locator('#bid-error').textContent()).toBe('');
      await wade.context().close();
    }, 180_000);

    it('reports a bid that never reached Redis as not placed, and does not retry it', async () => {
      const id = await newItem('Unreachable vase');
      const xia = await openAs('xia', `#/items/${id}`, { base });
      await xia.locator('#item-view[data-live="true"]').waitFor();
      let tries = 0;
      xia.on('request', (request) => {
        if (request.method() === 'POST' && request.url().endsWith(`/api/v1/items/${id}/bid`)) tries += 1;
      });
      proxy.cut();
      try {
        await waitFor(async () => !(await replicaReady()), {
          timeoutMs: 30_000,
          what: 'the replica to see Redis gone',
        });
        await xia.getByLabel('Your bid').fill('14.00');
        await xia.getByRole('button', { name: 'Place bid' }).click();
        await xia
          .getByRole('alert')
          .filter({
            hasText:
              'Your bid was not placed: the service is unavailable right now. Try again in a few seconds.',
          })
          .waitFor();
      } finally {
        proxy.restore();
      }
      expect(tries).toBe(1);
      expect(await xia.locator('#bid-confirmation').textContent()).toBe('');
      const item = (await (await fetch(`${apiUrl}/api/v1/items/${id}`)).json()) as { bidCount: number };
      expect(item.bidCount).toBe(0);
      await waitFor(replicaReady, { timeoutMs: 30_000, what: 'the replica to reach Redis again' });
      await xia.context().close();
    }, 180_000);
  });
});
