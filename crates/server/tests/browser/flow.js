// Drives the OAuth authorization pages in a real browser: headless Chromium from
// Debian (/usr/bin/chromium), never a downloaded one. Run by tests/browser.rs as
//   node flow.js AUTHORIZE_URL REDIRECT_URI EMAIL PASSWORD
// It signs in, checks the consent page, approves, catches the redirect to the
// client (nothing listens there), and prints one JSON line:
//   {"redirect": "<the full redirect URL>", "consent": "<consent page text>",
//    "login_status": <status of the sign-in page>}
'use strict';

const { chromium } = require('playwright-core');

async function main() {
  const [authorizeUrl, redirectUri, email, password] = process.argv.slice(2);
  if (!password) {
    throw new Error('usage: node flow.js AUTHORIZE_URL REDIRECT_URI EMAIL PASSWORD');
  }
  const browser = await chromium.launch({
    executablePath: process.env.CHROMIUM || '/usr/bin/chromium',
    headless: true,
    args: [
      '--headless',
      '--no-sandbox',
      '--disable-gpu',
      '--disable-quic',
      '--no-first-run',
      '--disable-background-networking',
      '--disable-component-update',
      '--disable-sync',
    ],
    timeout: 60000,
  });
  try {
    const context = await browser.newContext();
    const page = await context.newPage();
    page.setDefaultTimeout(30000);
    let redirected = null;
    const caught = new Promise((resolve) => {
      // The client's redirect URI: answer it here, as the client would.
      context.route((url) => url.href.startsWith(redirectUri), async (route) => {
        redirected = route.request().url();
        await route.fulfill({ status: 200, contentType: 'text/plain', body: 'client received the code' });
        resolve();
      });
    });

    const login = await page.goto(authorizeUrl);
    const loginStatus = login ? login.status() : 0;
    await page.fill('#email', email);
    await page.fill('#password', password);
    await Promise.all([page.waitForSelector('#consent'), page.click('#sign-in')]);
    const consent = await page.innerText('main');
    await Promise.all([caught, page.click('#approve')]);
    process.stdout.write(JSON.stringify({ redirect: redirected, consent, login_status: loginStatus }) + '\n');
  } finally {
    await browser.close();
  }
}

main().catch((err) => {
  process.stderr.write(`browser flow failed: ${err && err.stack ? err.stack : err}\n`);
  process.exit(1);
});
