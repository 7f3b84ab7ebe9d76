// Child process run by ui-browser.ts (tsx): drives Debian's headless Chromium with puppeteer-core through the
// scenarios it reads as JSON on stdin and writes what each page showed as JSON on stdout. A process of its own
// because puppeteer-core 25 is ESM only, which Jest's CommonJS sandbox cannot load.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import puppeteer from 'puppeteer-core';
import type { BrowseJob, ScenarioResult } from './ui-browser';

/** Installed by scripts/bootstrap.sh (Debian's chromium package). */
const CHROMIUM = process.env.ROTATOR_CHROMIUM ?? '/usr/bin/chromium';
const PAGE_TIMEOUT_MS = 60_000;

/** The page's globals these functions touch (they run in the browser; the project compiles without the DOM lib). */
interface InPage {
  localStorage: { setItem(key: string, value: string): void };
  document: { body: { innerText: string } };
}

async function readStdin(): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const chunk of process.stdin) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks).toString('utf8');
}

async function main(): Promise<void> {
  const job = JSON.parse(await readStdin()) as BrowseJob;
  const profile = mkdtempSync(join(tmpdir(), 'rotator-chromium-'));
  const browser = await puppeteer.launch({
    executablePath: CHROMIUM,
    headless: true,
    userDataDir: profile,
    args: [
      '--no-sandbox',
      '--disable-gpu',
      '--disable-quic',
      '--no-first-run',
      // Without these, Chromium's calls to Google are refused by the closed network and it stalls.
      '--disable-background-networking',
      '--disable-component-update',
      '--disable-sync',
    ],
  });
  const results: ScenarioResult[] = [];
  try {
    for (const scenario of job.scenarios) {
      // A context per scenario: its own localStorage, so one scenario's codec setting cannot leak into the next.
      const context = await browser.createBrowserContext();
      const page = await context.newPage();
      // Tall enough that the screenshot shows Input and Result: the UI scrolls an inner pane, not the page.
      await page.setViewport({ width: 1400, height: 2000 });
      const result: ScenarioResult = { name: scenario.name, codecStatuses: [], text: '' };
      try {
        if (scenario.codecEndpoint !== undefined) {
          // What the UI's "Codec Server" dialog stores when the operator sets their own endpoint.
          await page.evaluateOnNewDocument((url: string) => {
            const { localStorage } = globalThis as unknown as InPage;
            localStorage.setItem('endpoint', JSON.stringify(url));
            localStorage.setItem('overrideRemoteCodecConfiguration', 'true');
          }, scenario.codecEndpoint);
        }
        page.on('response', (r) => {
          if (r.url().startsWith(job.codecUrl) && r.request().method() === 'POST') result.codecStatuses.push(r.status());
        });
        const answered = page.waitForResponse((r) => r.url().startsWith(job.codecUrl) && r.request().method() === 'POST', {
          timeout: PAGE_TIMEOUT_MS,
        });
        await page.goto(job.url, { waitUntil: 'domcontentloaded', timeout: PAGE_TIMEOUT_MS });
        await answered;
        await page.waitForFunction(
          (n: string) => (globalThis as unknown as InPage).document.body.innerText.includes(n),
          { timeout: PAGE_TIMEOUT_MS },
          scenario.waitFor,
        );
      } catch (err) {
        result.error = err instanceof Error ? err.message : String(err);
      }
      result.text = await page.evaluate(() => (globalThis as unknown as InPage).document.body.innerText).catch(() => '');
      await page.screenshot({ path: scenario.screenshot, fullPage: true }).catch(() => undefined);
      await context.close();
      results.push(result);
    }
  } finally {
    await browser.close();
    rmSync(profile, { recursive: true, force: true });
  }
  process.stdout.write(JSON.stringify(results));
}

main().catch((err: unknown) => {
  process.stderr.write(`browser driver failed: ${err instanceof Error ? err.stack : String(err)}\n`);
  process.exitCode = 1;
});
