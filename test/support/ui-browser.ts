// Test side of the browser driver: runs ui-browser-driver.ts in a child process (tsx) and returns what each page
// showed. puppeteer-core 25 is ESM only and Jest's CommonJS sandbox cannot load it, so the browser is driven from
// outside the sandbox.
import { spawn } from 'node:child_process';
import { join } from 'node:path';

export interface BrowseScenario {
  name: string;
  /** The operator's own codec endpoint (the UI's "Codec Server" setting); undefined keeps the cluster's. */
  codecEndpoint?: string;
  /** Text to wait for on the page (a condition, not a timer) before reading it. */
  waitFor: string;
  /** Where the full-page screenshot goes. */
  screenshot: string;
}

export interface BrowseJob {
  /** The page to open. */
  url: string;
  /** Requests to URLs starting with this are the codec's; their statuses are reported. */
  codecUrl: string;
  scenarios: BrowseScenario[];
}

export interface ScenarioResult {
  name: string;
  /** Statuses of the page's POSTs to the codec server, in order. */
  codecStatuses: number[];
  /** document.body.innerText once `waitFor` showed (or when waiting gave up). */
  text: string;
  /** Set when the page never showed `waitFor` (or did not load). */
  error?: string;
}

const ROOT = join(__dirname, '..', '..');

export function browse(job: BrowseJob): Promise<ScenarioResult[]> {
  return new Promise((resolve, reject) => {
    const child = spawn(join(ROOT, 'node_modules', '.bin', 'tsx'), [join(__dirname, 'ui-browser-driver.ts')], {
      cwd: ROOT,
      stdio: ['pipe', 'pipe', 'pipe'],
    });
    let out = '';
    let err = '';
    child.stdout.on('data', (c: Buffer) => (out += c.toString('utf8')));
    child.stderr.on('data', (c: Buffer) => (err += c.toString('utf8')));
    child.on('error', reject);
    child.on('exit', (code) => {
      if (code !== 0) return reject(new Error(`browser driver exited ${code}: ${err}`));
      try {
        resolve(JSON.parse(out) as ScenarioResult[]);
      } catch {
        reject(new Error(`browser driver printed no result: ${out.slice(0, 500)} ${err}`));
      }
    });
    child.stdin.end(JSON.stringify(job));
  });
}
