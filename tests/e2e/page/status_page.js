// status_page.js - drives rdrelay's status page (www/) in headless Chromium
// (Debian's /usr/bin/chromium through playwright-core) for
// tests/e2e/test_status_page.sh, which owns every rdrelay process and
// registrant. This script owns only the browser. It asks the shell for
// actions on stdout ("ACTION reg-udp alice") and reads "OK ..." or
// "ERR ..." on stdin; it reports TAP-like lines "ok - ..." / "not ok - ..."
// (the shell counts them) and "# ..." comments.
// Env: PAGE_URL (http://127.0.0.1:PORT/), SHOT_DIR (screenshots), RD_DOMAIN.
'use strict';
const path = require('node:path');
const fs = require('node:fs');
const readline = require('node:readline');
const { chromium } = require('playwright-core');

const URL_ = process.env.PAGE_URL;
const SHOT_DIR = process.env.SHOT_DIR || '.';
const DOMAIN = process.env.RD_DOMAIN || 'proxy.localhost';
const WAIT = 20000; // every wait is bounded; none is a timing assertion

const lines = [];
let lineWaiter = null;
readline.createInterface({ input: process.stdin }).on('line', (l) => {
  if (lineWaiter) {
    const w = lineWaiter;
    lineWaiter = null;
    w(l);
  } else lines.push(l);
});
function nextLine() {
  if (lines.length) return Promise.resolve(lines.shift());
  return new Promise((resolve) => (lineWaiter = resolve));
}
async function action(cmd) {
  console.log('ACTION ' + cmd);
  const reply = await nextLine();
  if (!reply.startsWith('OK')) throw new Error('action "' + cmd + '" failed: ' + reply);
  return reply.slice(3);
}

let failures = 0;
function ok(cond, what, detail) {
  if (cond) console.log('ok - ' + what);
  else {
    failures++;
    console.log('not ok - ' + what);
    if (detail !== undefined) console.log('# ' + String(detail).replace(/\n/g, '\n# '));
  }
  return cond;
}
// A step that must work for the rest to make sense: a wait that times out
// is a failure with what the page showed.
async function step(what, fn) {
  try {
    await fn();
    ok(true, what);
    return true;
  } catch (e) {
    ok(false, what, e.message.split('\n').slice(0, 6).join('\n'));
    return false;
  }
}

const row = (ep) => `#eps-body tr[data-ep="${ep}"]`;

async function main() {
  const browser = await chromium.launch({ executablePath: '/usr/bin/chromium', headless: true, args: ['--no-sandbox'] });
  const stop = () => browser.close().finally(() => process.exit(1));
  process.on('SIGTERM', stop);
  process.on('SIGINT', stop);
  const consoleErrors = [];
  const outageErrors = [];
  let inOutage = false;
  try {
    const ctx = await browser.newContext({ viewport: { width: 1280, height: 800 } });
    await ctx.grantPermissions(['clipboard-read', 'clipboard-write'], { origin: new URL(URL_).origin });
    const page = await ctx.newPage();
    page.on('console', (m) => {
      if (m.type() !== 'error') return;
      const t = m.text();
      // while the relay is down on purpose, Chromium itself logs each failed reconnect
      if (inOutage && /WebSocket connection to .* failed/.test(t)) outageErrors.push(t);
      else consoleErrors.push(t);
    });
    page.on('pageerror', (e) => consoleErrors.push('uncaught: ' + e.message));

    await page.goto(URL_);
    if (!(await step('the page loads from rdrelay-ws and connects back over CoAP-over-WebSockets', () => page.waitForSelector('#conn[data-state="open"]', { timeout: WAIT }))))
      return;
    ok(await page.isVisible('#empty'), 'with nothing registered the page says so');
    ok((await page.textContent('#ws-url')).endsWith('/.well-known/coap'), 'the page shows its CoAP-over-WS URI');

    // 1. a registration from outside (UDP registrant) appears
    await action('reg-udp alice');
    if (await step('a UDP registration appears in the table without reloading', () => page.waitForSelector(row('alice'), { timeout: WAIT }))) {
      const r = page.locator(row('alice'));
      const host = await r.locator('td.host code').textContent();
      ok(host === `coap://alice.${DOMAIN}/`, 'host name for the client operator: coap://alice.' + DOMAIN + '/', host);
      const port = await r.locator('td.host .port').textContent();
      ok(/^no Uri-Host: coap:\/\/127\.0\.0\.1:[0-9]+\/$/.test(port), 'and its hosting port, for clients without Uri-Host', port);
      ok((await r.locator('td.path').textContent()) === 'udp', 'transport of the path: udp', await r.locator('td.path').textContent());
      ok((await r.locator('td.reach [data-reach]').getAttribute('data-reach')) === 'yes', 'alice is reachable');
      ok(/since .*ago/.test(await r.locator('td.reach').textContent()), 'and says since when', await r.locator('td.reach').textContent());
      const lt = await r.locator('td.lt').textContent();
      ok(/^\d+ (s|min|h|d)\b/.test(lt), 'lifetime left is shown (' + lt + ')', lt);
      await step('resource links come from resource lookup (/hello, /obs)', () =>
        page.waitForFunction((sel) => /\/hello/.test(document.querySelector(sel + ' td.res').textContent) && /\/obs/.test(document.querySelector(sel + ' td.res').textContent), row('alice'), { timeout: WAIT }),
      );
      await r.locator('button.copy').click();
      await step('the copy button puts coap://alice.' + DOMAIN + '/ on the clipboard', async () => {
        await page.waitForFunction(() => document.querySelector('button.copy').textContent !== 'Copy', null, { timeout: WAIT });
        const clip = await page.evaluate(() => navigator.clipboard.readText());
        if (clip !== `coap://alice.${DOMAIN}/`) throw new Error('clipboard holds ' + JSON.stringify(clip));
      });
    }

    // 2. a TCP registrant whose connection closes turns unreachable
    await action('reg-tcp bob');
    if (await step('a TCP registration appears', () => page.waitForSelector(row('bob') + ' [data-reach="yes"]', { timeout: WAIT }))) {
      ok((await page.textContent(row('bob') + ' td.path')) === 'tcp', 'transport of bob\'s path: tcp');
      await action('close-tcp bob');
      if (await step('when bob\'s TCP connection closes its row turns unreachable', () => page.waitForSelector(row('bob') + ' [data-reach="no"]', { timeout: WAIT })))
        ok(/since/.test(await page.textContent(row('bob') + ' td.reach')), 'and says since when', await page.textContent(row('bob') + ' td.reach'));
    }

    // 3. a registration with a short lifetime goes when it expires
    await action('register-once carol 3');
    if (await step('a registration with lt=3 appears', () => page.waitForSelector(row('carol'), { timeout: WAIT }))) {
      const lt = await page.textContent(row('carol') + ' td.lt').catch(() => 'gone already');
      ok(/^[0-3] s$|^expiring$|^gone already$/.test(lt), 'its lifetime left counts from 3 s (' + lt + ')', lt);
      await step('and leaves the table when it expires', () => page.waitForSelector(row('carol'), { state: 'detached', timeout: WAIT }));
    }

    // 4. more registrations than one block of the lookups holds (Block2)
    await action('register-many 12');
    if (await step('12 more registrations appear (lookup answers of several KiB, block-wise where the RD splits them)', () => page.waitForSelector(row('bulk-12'), { timeout: WAIT }))) {
      ok((await page.locator('#eps-body tr').count()) === 14, 'the table has every registration (14 rows)', await page.locator('#eps-body tr').count());
      ok(/\/actuators\/lamp/.test(await page.textContent(row('bulk-12') + ' td.res')), 'the last one shows its links too');
      ok((await page.textContent(row('bulk-12') + ' td.d')) === 'hall', 'and its sector');
    }
    await page.screenshot({ path: path.join(SHOT_DIR, 'status-page-table.png'), fullPage: true });

    // 5. try it: GET and Observe through the proxy, keyboard only
    const alicePath = await page.getAttribute(row('alice'), 'data-path');
    await page.selectOption('#try-ep', alicePath);
    await page.selectOption('#try-res', '/hello');
    await page.focus('#try-get');
    await page.keyboard.press('Enter');
    if (await step('try it: GET /hello of alice through the proxy answers', () => page.waitForSelector('#try-out .answer', { timeout: WAIT }))) {
      const a = page.locator('#try-out .answer').first();
      ok((await a.getAttribute('data-code')) === '2.05', 'the code is shown (2.05)', await a.getAttribute('data-code'));
      ok((await a.locator('.payload').textContent()) === 'hello', 'the payload is shown as text ("hello")', await a.locator('.payload').textContent());
      ok(/Content-Format: 0/.test(await a.locator('.opts').textContent()), 'the options are shown (Content-Format: 0)', await a.locator('.opts').textContent().catch(() => ''));
    }
    // a resource button in the table fills the panel and focuses GET
    await page.locator(row('alice') + ' button.linkbtn', { hasText: '/obs' }).click();
    ok((await page.inputValue('#try-res')) === '/obs' && (await page.evaluate(() => document.activeElement.id)) === 'try-get', 'a resource button in the table picks it in the try-it panel');
    await page.focus('#try-observe');
    await page.keyboard.press('Enter');
    if (await step('try it: Observe /obs delivers notifications as they arrive', () => page.waitForFunction(() => document.querySelectorAll('#try-out .answer[data-kind="notification"]').length >= 2, null, { timeout: WAIT }))) {
      await page.click('#try-stop');
      const n = await page.locator('#try-out .answer[data-kind="notification"]').count();
      ok((await page.isDisabled('#try-stop')) && !(await page.isDisabled('#try-observe')), 'Stop observing ends it (n=' + n + ')');
    }
    await page.screenshot({ path: path.join(SHOT_DIR, 'status-page.png'), fullPage: true });

    // 6. readable on a phone: no sideways scrolling, rows become cards
    await page.setViewportSize({ width: 390, height: 844 });
    const fits = await page.evaluate(() => document.documentElement.scrollWidth <= window.innerWidth + 1);
    ok(fits, 'on a 390 px wide phone screen nothing scrolls sideways');
    ok((await page.evaluate((sel) => getComputedStyle(document.querySelector(sel)).display, row('alice'))) === 'block', 'on a phone each endpoint is a card');
    await page.screenshot({ path: path.join(SHOT_DIR, 'status-page-phone.png'), fullPage: true });
    await page.setViewportSize({ width: 1280, height: 800 });

    // 7. its own connection drops: banner; the relay comes back: live again
    inOutage = true;
    await action('ws-stop');
    if (await step('when rdrelay-ws goes away a banner says the connection is lost', () => page.waitForSelector('#banner:not([hidden])', { timeout: WAIT }))) {
      ok((await page.getAttribute('#conn', 'data-state')) === 'closed', 'and the status says disconnected');
      await page.screenshot({ path: path.join(SHOT_DIR, 'status-page-offline.png'), fullPage: true });
    }
    await action('ws-start');
    await step('the page reconnects by itself and the banner goes', () => page.waitForSelector('#banner[hidden]', { state: 'attached', timeout: WAIT }));
    inOutage = false;
    await action('reg-udp dave');
    await step('after reconnecting the table is live again (a new registration appears)', () => page.waitForSelector(row('dave'), { timeout: WAIT }));
    console.log('# console errors while the relay was down on purpose (failed reconnects): ' + outageErrors.length);

    ok(consoleErrors.length === 0, 'no console errors', consoleErrors.join('\n'));
    fs.writeFileSync(path.join(SHOT_DIR, 'console-errors.txt'), consoleErrors.join('\n'));
  } finally {
    await browser.close();
  }
}

main()
  .then(() => {
    console.log('DONE');
    process.exit(failures ? 1 : 0);
  })
  .catch((e) => {
    console.log('not ok - page test aborted: ' + e.message.split('\n')[0]);
    console.log('DONE');
    process.exit(1);
  });
