// console_browser_test: the operator's console in a real browser (Debian's headless Chromium,
// driven by the pinned playwright-core), against a real daemon under load from a real client.
//
//   node console_browser_test.mjs --tw BUILD/tools/tokenwarehouse/tokenwarehouse \
//     --load BUILD/tests/console_load --playwright .cache/playwright --out BUILD/tests/console_browser_test
//
// Checks: / leads to the console; the numbers it shows equal the daemon's /stats (token usage and
// savings too); they change when more requests arrive; the charts and tables are drawn; the
// cluster and degraded panels draw what such answers hold; the page asks nothing of any host but
// the daemon. Leaves console.png (and daemon.log) in --out; with --demo-seconds N it loads the daemon
// N seconds longer first (how docs/console.png is made). Fails, never skips, when Chromium or
// playwright-core is missing: scripts/install-deps.sh and scripts/fetch-playwright.sh install them.
import { spawn, spawnSync } from 'node:child_process';
import crypto from 'node:crypto';
import fs from 'node:fs';
import http from 'node:http';
import path from 'node:path';
import { createRequire } from 'node:module';

const CHROMIUM = '/usr/bin/chromium';
const DEADLINE_MS = 90_000;  // the whole test (plus --demo-seconds); ctest's TIMEOUT is above it

function args() {
  const a = {};
  for (let i = 2; i + 1 < process.argv.length; i += 2) a[process.argv[i].replace(/^--/, '')] = process.argv[i + 1];
  for (const k of ['tw', 'load', 'playwright', 'out']) if (!a[k]) fail(`missing --${k}`);
  return a;
}
function fail(msg) {
  console.error(`FAIL: ${msg}`);
  process.exit(1);
}
const log = (msg) => console.log(`[${((Date.now() - t0) / 1000).toFixed(1)}s] ${msg}`);
const fmt = (n) => n.toLocaleString('en-US');
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
const t0 = Date.now();

function httpGet(address, p) {
  return new Promise((resolve, reject) => {
    http.get(`http://${address}${p}`, (res) => {
      let body = '';
      res.on('data', (c) => (body += c));
      res.on('end', () => resolve({ status: res.statusCode, headers: res.headers, body }));
    }).on('error', reject);
  });
}
async function until(what, fn, ms = 15_000) {
  const end = Date.now() + ms;
  let last;
  while (Date.now() < end) {
    last = await fn();
    if (last === true) return;
    await sleep(200);
  }
  fail(`${what} (last: ${typeof last === 'string' ? last : JSON.stringify(last)})`);
}

const opt = args();
const deadline = DEADLINE_MS + 2000 * Number(opt['demo-seconds'] || 0);
setTimeout(() => fail(`did not finish within ${deadline / 1000} s`), deadline).unref();
if (!fs.existsSync(CHROMIUM)) fail(`${CHROMIUM} is missing: run scripts/install-deps.sh (Debian package chromium)`);
const pwDir = path.join(path.resolve(opt.playwright), 'node_modules', 'playwright-core');
if (!fs.existsSync(path.join(pwDir, 'package.json'))) fail(`playwright-core is missing in ${opt.playwright}: run scripts/fetch-playwright.sh`);
const { chromium } = createRequire(import.meta.url)(pwDir);

fs.rmSync(opt.out, { recursive: true, force: true });
fs.mkdirSync(opt.out, { recursive: true });
const data = path.join(opt.out, 'tw-data');
const ready = path.join(opt.out, 'ready');

// A small DRAM tier in front of a disk tier, so the first load already evicts (demotes) and the
// console has two tiers, churn and evictions to show.
// Two tenants with tokens beside the anonymous one, so the tenants table has rows to rank.
const sha256 = (t) => crypto.createHash('sha256').update(t).digest('hex');
const config = path.join(opt.out, 'config.yaml');
// Savings: 4,000 prefill tokens/s by default, 8,000 for llama-3-8b, at 2.50 a GPU-hour.
fs.writeFileSync(config, `auth:\n  tenants:\n` +
  `    - {name: team-a, token_sha256: ${sha256('token-a')}}\n    - {name: team-b, token_sha256: ${sha256('token-b')}}\n` +
  // The load stores short prompts: keep every one (the daemon's default skips prompts under 1,024 tokens).
  `retention: {min_prefix_tokens: 0}\n` +
  `economics:\n  prefill_tokens_per_s: 4000\n  prefill_tokens_per_s_by_model: {llama-3-8b: 8000}\n  gpu_hour_price: 2.5\n`);
log('starting the daemon');
const daemonLog = fs.openSync(path.join(opt.out, 'daemon.log'), 'w');
const daemon = spawn(opt.tw, ['serve', '--config', config, '--listen', '127.0.0.1:0', '--admin', '127.0.0.1:0', '--unix', 'none',
  '--data-dir', data, '--dram', '16MiB', '--disk-size', '1GiB', '--ready-file', ready, '--log-level', 'warn'],
  { stdio: ['ignore', daemonLog, daemonLog] });
let daemonExited = null;
daemon.on('exit', (code, sig) => (daemonExited = `code ${code} signal ${sig}`));
process.on('exit', () => { if (daemonExited === null) daemon.kill('SIGKILL'); });

await until('the daemon writes its ready file', () => daemonExited ? `exited: ${daemonExited}` : fs.existsSync(ready));
const fields = Object.fromEntries(fs.readFileSync(ready, 'utf8').trim().split('\n').map((l) => l.split('=')));
const admin = fields.admin, tcp = fields.tcp;
if (!admin || !tcp) fail(`ready file lacks admin= or tcp=: ${JSON.stringify(fields)}`);
log(`daemon: tcp ${tcp}, admin http://${admin}`);

function load(salt, blocks, reads, misses, token = '', model = 'console-demo') {
  const r = spawnSync(opt.load, [`tw://${tcp}`, '--token', token, '--model', model, '--salt', String(salt), '--blocks',
    String(blocks), '--reads', String(reads), '--misses', String(misses)], { encoding: 'utf8', timeout: 30_000 });
  if (r.status !== 0) fail(`console_load: ${r.stderr || r.error}`);
  log(r.stdout.trim());
}
const stats = async () => JSON.parse((await httpGet(admin, '/stats')).body);

load(1, 40, 30, 5);
let want = await stats();
if (!(want.gets > 0 && want.puts >= 40)) fail(`/stats does not show the load: ${JSON.stringify(want)}`);

// Off the network: no sandbox (root in CI), no background traffic, and a proxy on a dead port for
// every host but the loopback, which Chromium never proxies. Requests are also checked below.
const browser = await chromium.launch({
  executablePath: CHROMIUM,
  headless: true,
  args: ['--no-sandbox', '--disable-background-networking', '--disable-component-update', '--disable-default-apps',
    '--disable-sync', '--disable-extensions', '--no-first-run', '--no-default-browser-check', '--metrics-recording-only',
    '--disable-features=Translate,OptimizationHints,MediaRouter', '--proxy-server=http://127.0.0.1:9',
    '--proxy-bypass-list=<-loopback>;127.0.0.1'],
});
try {
  const page = await browser.newPage({ viewport: { width: 1400, height: 1000 } });
  const foreign = [];
  await page.route('**/*', (route) => {
    const u = new URL(route.request().url());
    if (u.host !== admin) { foreign.push(u.href); return route.abort(); }
    return route.continue();
  });
  const errors = [];
  page.on('pageerror', (e) => errors.push(String(e)));
  page.on('console', (m) => { if (m.type() === 'error') errors.push(m.text()); });

  log('opening the console');
  const resp = await page.goto(`http://${admin}/`);
  if (!resp || resp.status() !== 200) fail(`GET / -> ${resp && resp.status()}`);
  if (!page.url().endsWith('/console')) fail(`/ did not lead to /console but to ${page.url()}`);

  const shown = async () => page.evaluate(() => {
    const v = (n) => Number(document.querySelector(`[data-stat="${n}"]`).dataset.value);
    const dram = document.querySelector('[data-tier-used="dram"]');
    return { gets: v('gets'), get_hits: v('get_hits'), get_misses: v('get_misses'), puts: v('puts'), lookups: v('lookups'),
      hit_ratio_text: document.querySelector('[data-stat="hit_ratio"]').textContent,
      dram_used: dram ? Number(dram.dataset.value) : -1, health: document.getElementById('health').dataset.health };
  });
  // The numbers on the page are /stats' numbers (no load runs now, so /stats stands still).
  const matches = async () => {
    want = await stats();
    const got = await shown();
    const dram = want.tiers.find((t) => t.tier === 'dram');
    const expect = { gets: want.gets, get_hits: want.gets - want.get_misses, get_misses: want.get_misses, puts: want.puts,
      lookups: want.lookups, hit_ratio_text: (want.hit_ratio * 100).toFixed(1) + '%', dram_used: dram.used_bytes, health: 'ok' };
    for (const k of Object.keys(expect)) if (got[k] !== expect[k]) return `${k}: page ${got[k]}, /stats ${expect[k]}`;
    return true;
  };
  await until('the console shows what /stats says', matches);
  const first = await shown();
  log(`console shows ${first.gets} reads (${first.hit_ratio_text} hits), ${first.puts} puts, DRAM ${first.dram_used} bytes`);

  // Tables and charts: the evictions the small DRAM forced, the tenant, lines in every chart.
  await until('recent evictions are listed', async () => {
    const rows = await page.locator('#evictions tbody tr').count();
    return rows > 0 || `${rows} rows`;
  });
  await until('the anonymous tenant is in the tenants table', async () =>
    (await page.locator('#tenants tbody tr').first().textContent())?.includes('default') || 'no row for "default"');
  // Token accounting, from what the client did: 40 blocks of 64 tokens written and matched by its
  // lookup, 5 asked past the prefix; the page shows the daemon's sums.
  const usage = want.usage.find((u) => u.tenant === 'default');
  const expectTokens = { write_tokens: 40 * 64, hit_tokens: 40 * 64, miss_tokens: 5 * 64 };
  for (const [k, v] of Object.entries(expectTokens)) if (!usage || usage[k] !== v) fail(`/stats usage ${k}: ${usage && usage[k]}, want ${v}`);
  const cards = await page.evaluate(() => ['hit_tokens', 'write_tokens', 'gpu_seconds_saved', 'money_saved']
    .map((n) => Number(document.querySelector(`[data-stat="${n}"]`).dataset.value)));
  if (cards[0] !== usage.hit_tokens || cards[1] !== usage.write_tokens) fail(`token cards ${cards}, /stats ${usage.hit_tokens},${usage.write_tokens}`);
  // 2,560 hit tokens at 4,000 tokens/s: 0.64 GPU-seconds, at 2.50 an hour.
  const near = (a, b) => Math.abs(a - b) < 1e-9;
  if (!near(want.economics.gpu_seconds_saved, 0.64) || !near(want.economics.money_saved, 0.64 / 3600 * 2.5)) {
    fail(`/stats economics ${JSON.stringify(want.economics)}`);
  }
  if (!near(cards[2], want.economics.gpu_seconds_saved) || !near(cards[3], want.economics.money_saved)) {
    fail(`savings cards ${cards.slice(2)}, /stats ${want.economics.gpu_seconds_saved},${want.economics.money_saved}`);
  }
  await until('every chart draws a line (two history samples)', async () => {
    const n = await page.evaluate(() => ['chart-hits', 'chart-occupancy', 'chart-churn']
      .map((id) => document.querySelectorAll(`#${id} path`).length));
    return n.every((c) => c > 0) || `paths per chart ${n}`;
  });

  log('more load: the console must follow');
  load(2, 30, 30, 10, 'token-a', 'llama-3-8b');
  await until('the console updates to the new /stats', async () => {
    const r = await matches();
    if (r !== true) return r;
    const now = await shown();
    return (now.gets > first.gets && now.puts > first.puts) || `gets ${now.gets} puts ${now.puts}`;
  });
  await until('team-a is in the tenants table with its tokens', async () => {
    const rows = await page.locator('#tenants tbody tr').allTextContents();
    // 1,920 hit tokens of llama-3-8b at its own 8,000 tokens/s: 0.24 s.
    return rows.some((r) => r.includes('team-a') && r.includes(fmt(30 * 64)) && r.includes('0.24 s')) || rows.join(' | ');
  });
  const second = await shown();
  log(`console now shows ${second.gets} reads (${second.hit_ratio_text}), ${second.puts} puts`);
  await sleep(1500);  // one more history sample, so the charts show the second burst

  // --demo-seconds N (not in ctest): N more seconds of varied bursts before the screenshot, for the
  // picture in docs/console.png.
  const who = [['', 'console-demo'], ['token-a', 'llama-3-8b'], ['token-b', 'qwen-2.5-7b'], ['token-a', 'llama-3-70b']];
  for (let i = 0, n = Number(opt['demo-seconds'] || 0); i < n; ++i) {
    const [token, model] = who[i % who.length];
    load(1 + (i % 7), 8 + ((i * 5) % 23), 4 + ((i * 11) % 30), (i * 3) % 9, token, model);
    await sleep(700);
  }

  const shot = path.join(opt.out, 'console.png');
  await page.screenshot({ path: shot, fullPage: true });
  log(`screenshot: ${shot}`);
  // The panels this daemon cannot produce here (a cluster, a degraded node), drawn from answers
  // shaped as /stats' "cluster" (src/cluster/cluster_node.cc) and /healthz give them.
  const drawn = await page.evaluate(() => {
    drawCluster({ node_id: 'node-1', cluster: 'c1', etcd_ok: true, replicas: 2, rereplication: { under_replicated: 3 },
      members: [{ node_id: 'node-1', addr: '10.0.0.1:7700' }, { node_id: 'node-2', addr: '10.0.0.2:7700' }],
      peers: [{ node_id: 'node-2', requests: 5, errors: 1, suspect: true }] });
    drawHealth(true, 200, 'degraded: disk tier stopped admitting after a write error (see the log); etcd unreachable\n');
    return { cluster: document.getElementById('cluster').innerText, alert: document.getElementById('degraded').innerText,
      hidden: document.getElementById('degraded').hidden, badge: document.getElementById('health').dataset.health };
  });
  for (const want of ['node-2', '10.0.0.2:7700', 'SUSPECT', 'this node', 'under-replicated 3']) {
    if (!drawn.cluster.includes(want)) fail(`cluster panel lacks '${want}': ${drawn.cluster}`);
  }
  if (drawn.hidden || drawn.badge !== 'degraded' || !drawn.alert.includes('disk tier stopped admitting') ||
      !drawn.alert.includes('etcd unreachable')) {
    fail(`degraded panel: ${JSON.stringify(drawn)}`);
  }
  if (foreign.length) fail(`the console asked for other hosts: ${foreign.join(', ')}`);
  if (errors.length) fail(`the page logged errors: ${errors.join(' | ')}`);
} finally {
  await browser.close();
}

daemon.kill('SIGTERM');
await until('the daemon stops on SIGTERM', () => daemonExited !== null || 'still running', 20_000);
log(`PASS (${daemonExited})`);
