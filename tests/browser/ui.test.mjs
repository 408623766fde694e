// Browser tests of the analyst page (GET /ui): playwright-core driving Debian's chromium
// against a real `triage serve`. Started by scripts/browser-test.sh, which builds the
// binary, starts the server, creates the keys and posts the hostile case; this file gets
// all of that through the environment.
import { chromium } from 'playwright-core';
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import assert from 'node:assert/strict';

function need(name) {
  const v = process.env[name];
  if (!v) {
    console.error(`ui.test.mjs: ${name} is not set (run scripts/browser-test.sh)`);
    process.exit(2);
  }
  return v;
}
const BASE = need('TRIAGE_URL').replace(/\/$/, '');
const ORIGIN = new URL(BASE).origin;
const KEYS = { approver: need('KEY_APPROVER'), analyst: need('KEY_ANALYST'), admin: need('KEY_ADMIN'), caseEngine: need('KEY_CASE_ENGINE') };
const CASE_ID = need('HOSTILE_CASE_ID');
const ARTIFACTS = need('ARTIFACTS_DIR');
const PROFILE = need('CHROMIUM_PROFILE');
const CHROMIUM = process.env.CHROMIUM || '/usr/bin/chromium';
const HOSTILE_HOST = '203.0.113.9';
mkdirSync(ARTIFACTS, { recursive: true });

// ---- What every page did: requests, dialogs, errors, CSP violations.
const seen = { requests: [], external: [], dialogs: [], pageErrors: [], cspConsole: [] };

async function api(key, method, path, body) {
  const res = await fetch(BASE + path, {
    method,
    headers: { Authorization: `Bearer ${key}`, ...(body ? { 'Content-Type': 'application/json' } : {}) },
    body: body ? JSON.stringify(body) : undefined,
  });
  const data = await res.json().catch(() => null);
  if (!res.ok) throw new Error(`${method} ${path}: ${res.status} ${JSON.stringify(data)}`);
  return data;
}

async function until(what, fn, timeout = 10_000) {
  const end = Date.now() + timeout;
  let last;
  for (;;) {
    try {
      const v = await fn();
      if (v) return v;
    } catch (e) {
      last = e;
    }
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}${last ? ` (${last.message})` : ''}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

// ---- Browser: Debian's chromium, a fresh profile, nothing phoning home.
const context = await chromium.launchPersistentContext(PROFILE, {
  executablePath: CHROMIUM,
  headless: true,
  viewport: { width: 1280, height: 800 },
  args: [
    '--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
    '--disable-background-networking', '--disable-component-update', '--disable-sync',
  ],
});
context.setDefaultTimeout(10_000);
await context.addInitScript(() => {
  window.__csp = [];
  document.addEventListener('securitypolicyviolation', (e) => window.__csp.push(`${e.violatedDirective} ${e.blockedURI}`));
});
await context.route('**/*', (route) => {
  const url = route.request().url();
  if (url.startsWith('data:') || new URL(url).origin === ORIGIN) return route.continue();
  seen.external.push(url);
  return route.abort('blockedbyclient');
});
context.on('request', (r) => seen.requests.push({ method: r.method(), url: r.url() }));

async function newPage() {
  const page = await context.newPage();
  page.on('dialog', (d) => { seen.dialogs.push(d.message()); d.dismiss().catch(() => {}); });
  page.on('pageerror', (e) => seen.pageErrors.push(String(e)));
  page.on('console', (m) => { if (/Content Security Policy/i.test(m.text())) seen.cspConsole.push(m.text()); });
  return page;
}

async function signIn(page, key, hash = '') {
  await page.goto(`${BASE}/ui${hash}`);
  await page.locator('#keyInput').fill(key);
  await page.locator('#keyInput').press('Enter');
  await page.locator('#who').waitFor({ state: 'visible' });
  await until('the identity line', async () => /Signed in as/.test(await page.locator('#whoText').textContent()));
}

async function inertChecks(page) {
  const dom = await page.evaluate(() => ({
    xss: typeof window.__xss,
    scripts: document.scripts.length,
    active: [...document.querySelectorAll('img, iframe, object, embed, video, audio, link[rel=stylesheet], a[href^="javascript:"]')].map((e) => e.outerHTML),
    handlers: [...document.querySelectorAll('*')].flatMap((e) => [...e.attributes].filter((a) => /^on/i.test(a.name)).map((a) => `${e.tagName}.${a.name}`)),
    csp: window.__csp,
  }));
  assert.equal(dom.xss, 'undefined', 'window.__xss was set: an injected script ran');
  assert.equal(dom.scripts, 1, 'only the page\'s own <script> may be in the DOM');
  assert.deepEqual(dom.active, [], 'no element that loads or runs anything may come from content');
  assert.deepEqual(dom.handlers, [], 'no inline event handler attribute may be in the DOM');
  assert.deepEqual(dom.csp, [], 'no CSP violation should even be attempted');
  assert.deepEqual(seen.dialogs, [], 'no alert()/confirm() dialog may open');
  assert.deepEqual(seen.external, [], 'no request may leave the service origin');
  assert.equal(seen.requests.filter((r) => r.url.includes(HOSTILE_HOST)).length, 0, `no request to ${HOSTILE_HOST}`);
}

// ---- A tiny sequential runner: each step is a test; the last line is "N passed, M failed".
const tests = [];
const test = (name, fn) => tests.push({ name, fn });
const state = {};

test('the page is served with a strict CSP and its own script runs', async () => {
  const page = (state.page = await newPage());
  const res = await page.goto(`${BASE}/ui`);
  assert.equal(res.status(), 200);
  assert.match(res.headers()['content-type'] || '', /text\/html/);
  const csp = await page.locator('meta[http-equiv="Content-Security-Policy"]').getAttribute('content');
  for (const part of ["default-src 'self'", "img-src 'self' data:", "connect-src 'self'", "object-src 'none'"]) assert.ok(csp.includes(part), `CSP lacks ${part}`);
  assert.match(csp, /script-src 'sha256-[A-Za-z0-9+/=]+'/);
  assert.ok(!csp.includes("'unsafe-eval'"));
  await page.locator('#signin').waitFor({ state: 'visible', timeout: 5_000 }).catch(() => {
    throw new Error('the sign-in form never appeared: the page script did not run (stale CSP hash? run node tests/browser/csp-hash.mjs --write)');
  });
});

test('a wrong key is refused', async () => {
  const page = state.page;
  await page.locator('#keyInput').fill('trk_not_a_real_key');
  await page.getByRole('button', { name: 'Sign in' }).click();
  await until('the refusal', async () => /not accepted/.test(await page.locator('#signinMsg').textContent()));
  assert.equal(await page.locator('#app').isVisible(), false);
  assert.equal(await page.evaluate(() => sessionStorage.getItem('triage.apiKey')), null);
});

test('signs in as the approver and shows who that is and the queues', async () => {
  const page = state.page;
  await page.locator('#keyInput').fill(KEYS.approver);
  await page.locator('#keyInput').press('Enter');
  await page.locator('#who').waitFor({ state: 'visible' });
  await page.locator('#app').waitFor({ state: 'visible' });
  assert.equal(await page.locator('#signin').isVisible(), false);
  assert.match(await page.locator('#whoText').textContent(), /Signed in as approver/);
  assert.equal(await page.evaluate(() => sessionStorage.getItem('triage.apiKey')), KEYS.approver);
  const pending = (await api(KEYS.approver, 'GET', '/v1/approvals?status=pending')).approvals;
  assert.ok(pending.length >= 3, 'the seeded cases should leave at least 3 pending approvals');
  await until('the approvals queue', async () => (await page.locator('#qApprovals li[data-approval]').count()) === pending.length);
  assert.equal(await page.locator('#qApprovalsN').textContent(), `(${pending.length})`);
  await page.locator(`#qCases li[data-case="${CASE_ID}"]`).waitFor();
  // Open cases in the service's SLA order, each with its SLA and assignee.
  const cases = (await api(KEYS.approver, 'GET', '/v1/cases?sort=sla')).cases.filter((c) => c.state !== 'closed' && c.state !== 'learned');
  const shown = await page.locator('#qCases li[data-case]').evaluateAll((els) => els.map((e) => e.dataset.case));
  assert.deepEqual(shown, cases.map((c) => c.case_id));
  for (let i = 1; i < cases.length; i += 1) {
    if (cases[i].sla) assert.ok(cases[i - 1].sla && cases[i - 1].sla.due_at <= cases[i].sla.due_at, 'due first');
  }
  const first = page.locator(`#qCases li[data-case="${cases[0].case_id}"]`);
  assert.equal(await first.locator('[data-sla]').count(), 1, 'every case shows its SLA');
  assert.match(await first.locator('.assignee').textContent(), /unassigned|assigned to/);
  assert.match(await page.locator('#qReview').textContent(), /No case needs review/);
});

test('opens the hostile case from the queue with the keyboard', async () => {
  const page = state.page;
  await page.locator(`#qCases li[data-case="${CASE_ID}"] a`).focus();
  await page.keyboard.press('Enter');
  await until('the case view', async () => (await page.locator(`.case-head[data-case="${CASE_ID}"]`).count()) === 1);
  assert.equal(await page.evaluate(() => document.activeElement && document.activeElement.id), 'caseTitle', 'focus should move to the case title');
  assert.match(page.url(), new RegExp(`#/case/${CASE_ID}$`));
  await page.locator('#summaryMarkdown').waitFor();
});

test('summary and alert content render as inert text', async () => {
  const page = state.page;
  const md = await page.locator('#summaryMarkdown').textContent();
  const summary = await api(KEYS.approver, 'GET', `/v1/cases/${CASE_ID}/summary`);
  assert.equal(md, summary.summary_markdown, 'the summary is shown verbatim, as text');
  for (const s of ['<script>window.__xss=1;alert(1)</script>', '<img src=x onerror="window.__xss=2;alert(1)">', `![x](http://${HOSTILE_HOST}/p.png)`]) {
    assert.ok(md.includes(s), `summary should show ${s} literally`);
  }
  assert.ok((await page.locator('#caseTitle').textContent()).includes('<script>window.__xss=1;alert(1)</script>'));
  const quotes = (await page.locator('#evidence blockquote').allTextContents()).join('\n');
  assert.ok(quotes.includes('<script>alert(1)</script>'), 'the cited CommandLine shows <script>alert(1)</script> as text');
  assert.ok(quotes.includes(`![x](http://${HOSTILE_HOST}/p.png)`));
  // Timeline, entities, ATT&CK, uncertainty are all there.
  assert.ok((await page.locator('.timeline li').count()) >= 4, 'three alerts and a recommendation in the timeline');
  assert.match(await page.locator('#entH + dl').textContent(), /WS-042/);
  assert.match(await page.locator('#attH').locator('..').textContent(), /execution[\s\S]*T1\d{3}/);
  assert.ok((await page.locator('#unH + ul li').count()) >= 1);
  await page.waitForTimeout(300);
  await inertChecks(page);
});

test('a cited document and a cited alert open in place', async () => {
  const page = state.page;
  const runbook = page.locator('#evidence li[data-ref^="runbook:"] button.refbtn').first();
  const ref = await runbook.getAttribute('data-ref');
  await runbook.click();
  assert.equal(await runbook.getAttribute('aria-expanded'), 'true');
  const doc = page.locator(`#evidence .doc[data-doc="${ref}"]`);
  await doc.waitFor();
  const want = await api(KEYS.approver, 'GET', `/v1/documents/${encodeURIComponent(ref)}`);
  assert.equal(await doc.locator('pre').textContent(), want.text);
  assert.ok((await doc.locator('.dh').textContent()).includes(want.title));
  await doc.scrollIntoViewIfNeeded();
  await page.screenshot({ path: join(ARTIFACTS, 'ui-document.png') });

  const alertRef = page.locator('#evidence li[data-ref="alert:alrt-ui-2#rule.name"] button.refbtn');
  await alertRef.click();
  const shown = page.locator('#evidence .doc[data-doc="alert:alrt-ui-2#rule.name"]');
  await shown.waitFor();
  assert.ok((await shown.locator('.hit').textContent()).includes('<img src=x onerror="window.__xss=2;alert(1)">'));
  assert.ok((await shown.locator('pre').textContent()).includes('"id": "alrt-ui-2"'));
  await runbook.click();
  assert.equal(await runbook.getAttribute('aria-expanded'), 'false');
  assert.equal(await doc.isVisible(), false);
  await inertChecks(page);
});

test('approve with an empty rationale does nothing and says why', async () => {
  const page = state.page;
  const card = page.locator('[data-approval-card][data-action="isolate_host"]');
  state.approvalId = await card.getAttribute('data-approval-card');
  const posts = () => seen.requests.filter((r) => r.method === 'POST' && r.url.includes(`/v1/approvals/${state.approvalId}/`)).length;
  const before = posts();
  await card.locator('button[data-decision="approve"]').click();
  assert.match(await card.locator('.msg').textContent(), /rationale/);
  assert.equal(await card.locator('textarea').getAttribute('aria-invalid'), 'true');
  assert.equal(await page.evaluate(() => document.activeElement.tagName), 'TEXTAREA');
  await page.waitForTimeout(200);
  assert.equal(posts(), before, 'no decision may be sent without a rationale');
  assert.equal((await api(KEYS.approver, 'GET', `/v1/approvals/${state.approvalId}`)).status, 'pending');
});

test('approves a pending action with a rationale and the queue updates', async () => {
  const page = state.page;
  state.rationale = 'Decoded command is a download cradle; isolate WS-042 pending forensics. <b>not markup</b>';
  const n = await page.locator('#qApprovals li[data-approval]').count();
  assert.equal(await page.locator(`#qApprovals li[data-approval="${state.approvalId}"]`).count(), 1);
  const card = page.locator(`[data-approval-card="${state.approvalId}"]`);
  await card.locator('textarea').fill(state.rationale);
  await card.locator('button[data-decision="approve"]').focus();
  await page.keyboard.press('Enter');
  await until('the confirmation', async () => /^Approved .*approved\.$/.test(await page.locator('#status').textContent()));
  await until('the approvals queue to drop the decided approval', async () =>
    (await page.locator(`#qApprovals li[data-approval="${state.approvalId}"]`).count()) === 0
    && (await page.locator('#qApprovals li[data-approval]').count()) === n - 1);
  assert.equal(await page.locator('#qApprovalsN').textContent(), `(${n - 1})`);
  const after = page.locator(`[data-approval-card="${state.approvalId}"]`);
  await until('the card to show the decision', async () => /approval approved: 1 of 1/.test(await after.textContent()));
  assert.ok((await after.locator('.decisions').textContent()).includes(state.rationale), 'the rationale is shown, as text');
  assert.equal(await after.locator('textarea').count(), 0);
  assert.ok(!(await after.textContent()).includes('null'));
  await page.locator('#main').evaluate((m) => { m.scrollTop = 0; });
  await page.locator('#queues').evaluate((q) => { q.scrollTop = 0; });
  await page.screenshot({ path: join(ARTIFACTS, 'ui-approved.png') });
  await inertChecks(page);
});

test('the decision is recorded and audited (API)', async () => {
  const a = await api(KEYS.approver, 'GET', `/v1/approvals/${state.approvalId}`);
  assert.equal(a.status, 'approved');
  assert.equal(a.decisions.length, 1);
  assert.equal(a.decisions[0].decision, 'approve');
  assert.equal(a.decisions[0].rationale, state.rationale);
  assert.equal(a.action.status, 'approved');
  const audit = await api(KEYS.admin, 'GET', '/v1/audit?after=0&limit=10000');
  const entry = audit.entries.find((e) => e.kind === 'approval.decision' && e.subject === state.approvalId);
  assert.ok(entry, 'an approval.decision audit entry for the approval');
  assert.equal(entry.data.decision, 'approve');
  assert.equal(entry.data.rationale, state.rationale);
  assert.match(entry.actor, /^ui-approver:/);
  const verify = await api(KEYS.admin, 'GET', '/v1/audit/verify');
  assert.equal(verify.ok, true);
});

test('an analyst opens a case by link and sees no decision buttons', async () => {
  const page = await newPage();
  await signIn(page, KEYS.analyst, `#/case/${CASE_ID}`);
  assert.match(await page.locator('#whoText').textContent(), /Signed in as analyst/);
  await page.locator(`.case-head[data-case="${CASE_ID}"]`).waitFor();
  assert.equal(await page.locator('button[data-decision]').count(), 0);
  assert.ok((await page.locator('#actions').textContent()).includes('Waiting for an approver'));
  await page.getByRole('button', { name: 'Close case' }).scrollIntoViewIfNeeded();
  await page.screenshot({ path: join(ARTIFACTS, 'ui-analyst.png') });
  await page.getByRole('button', { name: 'Sign out' }).click();
  await page.locator('#signin').waitFor({ state: 'visible' });
  assert.equal(await page.evaluate(() => sessionStorage.getItem('triage.apiKey')), null);
  await inertChecks(page);
  await page.close();
});

test('a case engine key reads the case queue but not approvals, and changes nothing', async () => {
  const page = await newPage();
  await signIn(page, KEYS.caseEngine);
  assert.match(await page.locator('#whoText').textContent(), /Signed in as case_engine/);
  assert.match(await page.locator('#status').textContent(), /may not list approvals/);
  assert.match(await page.locator('#qApprovals').textContent(), /may not list approvals/);
  await page.locator(`#qCases li[data-case="${CASE_ID}"]`).waitFor();
  await page.locator(`#qCases li[data-case="${CASE_ID}"] a`).click();
  await page.locator(`.case-head[data-case="${CASE_ID}"]`).waitFor();
  assert.equal(await page.locator('#queueInfo form').count(), 0, 'no assignment form');
  assert.equal(await page.getByRole('button', { name: 'Close case' }).count(), 0);
  await page.close();
});

test('an analyst assigns a case to herself and the queue shows it with its SLA', async () => {
  const page = await newPage();
  await signIn(page, KEYS.analyst, `#/case/${CASE_ID}`);
  await page.locator('#queueInfo').waitFor();
  assert.equal(await page.locator('#assignee').textContent(), 'unassigned');
  await page.locator('#queueInfo button[data-assign="me"]').click();
  await until('the assignment', async () => (await page.locator('#assignee').textContent()) === 'ui-analyst');
  const item = page.locator(`#qCases li[data-case="${CASE_ID}"]`);
  await until('the queue entry', async () => (await item.locator('.assignee').textContent()) === 'assigned to ui-analyst');
  const c = await api(KEYS.analyst, 'GET', `/v1/cases/${CASE_ID}`);
  assert.equal(c.assignee, 'ui-analyst');
  const badge = await item.locator('[data-sla]').getAttribute('data-sla');
  assert.equal(badge, c.sla ? (c.sla.breached ? 'breached' : 'due') : 'none');
  const audit = await api(KEYS.admin, 'GET', '/v1/audit?after=0&limit=10000');
  assert.ok(audit.entries.some((e) => e.kind === 'case.assigned' && e.subject === CASE_ID), 'assignment is audited');
  state.analystPage = page;
});

test('the graph draws what the alerts name', async () => {
  const page = state.analystPage;
  const g = await api(KEYS.analyst, 'GET', `/v1/cases/${CASE_ID}/graph`);
  assert.ok(g.nodes.length >= 4, 'the hostile case names a host, a user and more');
  await page.locator('#graph svg').waitFor();
  assert.equal(await page.locator('#graph svg g.node').count(), Math.min(120, g.nodes.length));
  const drawn = await page.locator('#graph svg g.node').evaluateAll((els) => els.map((e) => e.dataset.node));
  assert.ok(drawn.includes('host:ws-042'), `host:ws-042 in ${drawn}`);
  await page.locator('#graph details summary').click();
  assert.equal(await page.locator('#graphEdges tbody tr').count(), g.edges.length);
  await page.locator('#graph').scrollIntoViewIfNeeded();
  await page.screenshot({ path: join(ARTIFACTS, 'ui-graph.png') });
  await inertChecks(page);
});

test('closing a case as a false positive drafts a learning task, accepted on the page', async () => {
  const page = state.analystPage;
  const other = (await api(KEYS.analyst, 'GET', '/v1/cases')).cases.find((c) => c.case_id !== CASE_ID && c.state !== 'closed' && c.state !== 'learned');
  assert.ok(other, 'a second seeded case');
  await page.goto(`${BASE}/ui#/case/${other.case_id}`);
  await page.locator(`.case-head[data-case="${other.case_id}"]`).waitFor();
  const form = page.locator('form.closeform');
  await form.locator('select[name="disposition"]').selectOption('false_positive');
  await form.locator('select[name="severity"]').selectOption('low');
  await form.locator('textarea[name="note"]').fill('Admin inventory script run by the desktop team; change DT-2207.');
  await page.getByRole('button', { name: 'Close case' }).click();
  const card = page.locator('#learning [data-task-card][data-kind="detection_tuning"]');
  await card.first().waitFor();
  const taskId = await card.first().getAttribute('data-task-card');
  const draft = await card.first().locator('pre').textContent();
  assert.match(draft, /^title: /m);
  assert.match(draft, /detection:\n/);
  await until('the learning queue', async () => (await page.locator(`#qLearn li[data-task="${taskId}"]`).count()) === 1);
  await page.locator('#learning').scrollIntoViewIfNeeded();
  await page.screenshot({ path: join(ARTIFACTS, 'ui-learning.png') });
  const tasks = (await api(KEYS.analyst, 'GET', `/v1/learning?case_id=${other.case_id}`)).tasks;
  for (const t of tasks) {
    await page.locator(`[data-task-card="${t.id}"] button[data-task-decision="accepted"]`).click();
    await until(`task ${t.id} accepted`, async () => (await api(KEYS.analyst, 'GET', `/v1/learning?case_id=${other.case_id}`)).tasks.find((x) => x.id === t.id).status === 'accepted');
  }
  await until('the case to be learned', async () => (await api(KEYS.analyst, 'GET', `/v1/cases/${other.case_id}`)).state === 'learned');
  await until('the queue to drop the task', async () => (await page.locator(`#qLearn li[data-task="${taskId}"]`).count()) === 0);
  await inertChecks(page);
  await page.close();
});

test('the review queue lists refused cases with their reasons, as text (mocked API answers)', async () => {
  // The baseline engine never produces a refused output, so this one case is served by the
  // test itself: the real case list plus one case in needs_review.
  const page = await newPage();
  const fake = { case_id: 'case_review_mock', title: 'Refused <script>window.__xss=9</script>', state: 'needs_review', severity: 'critical', created_at: '2026-03-01T00:00:00.000Z',
    opened_at: '2026-03-01T00:00:00.000Z', sla: { due_at: '2026-03-01T01:00:00.000Z', breached: true }, assignee: null };
  const reason = { code: 'direct_execution_proposed', detail: 'summary: run `Invoke-Expression` <img src=x onerror="window.__xss=8"> ![x](http://203.0.113.9/p.png)' };
  await page.route(/\/v1\/cases(\?[^/]*)?$/, async (route) => {
    const real = await route.fetch();
    const body = await real.json();
    body.cases.unshift(fake); // the most overdue: the service sorts it first
    await route.fulfill({ response: real, json: body });
  });
  await page.route(/\/v1\/cases\/case_review_mock(\/summary)?$/, (route) => route.fulfill({
    json: route.request().url().endsWith('/summary')
      ? { case_id: fake.case_id, summary_markdown: '## Refused\n', timeline: [], entities: {}, attack: [], evidence: [], uncertainty: ['No recommendation of this case passed the checks yet.'], engine: null }
      : { ...fake, alerts: [], approvals: [], actions: [], history: [], recommendations: [{ recommendation_id: 'rec_mock', status: 'needs_review', recommendation: null, review: { reasons: [reason], approval_id: 'apr_mock' }, engine: { name: 'llm', model: 'mock', prompt_version: 'v', degraded: false } }] },
  }));
  await signIn(page, KEYS.approver);
  const item = page.locator('#qReview li[data-case="case_review_mock"]');
  await item.waitFor();
  assert.equal(await page.locator('#qReviewN').textContent(), '(1)');
  const text = await item.textContent();
  assert.ok(text.includes(fake.title) && text.includes('direct_execution_proposed') && text.includes(reason.detail));
  assert.equal(await page.locator('#qCases li[data-case]').first().getAttribute('data-case'), 'case_review_mock', 'the queue keeps the service\'s SLA order');
  assert.equal(await page.locator('#qCases li[data-case="case_review_mock"] [data-sla]').getAttribute('data-sla'), 'breached');
  await item.locator('a').click();
  await page.locator('[data-review="reasons"]').waitFor();
  assert.ok((await page.locator('[data-review="reasons"]').textContent()).includes(reason.detail));
  await page.screenshot({ path: join(ARTIFACTS, 'ui-review.png') });
  await inertChecks(page);
  await page.close();
});

// ---- Run.
let passed = 0;
let failed = 0;
const t0 = Date.now();
for (const [i, t] of tests.entries()) {
  const start = Date.now();
  try {
    await t.fn();
    passed += 1;
    console.log(`ok ${i + 1} - ${t.name} (${Date.now() - start} ms)`);
  } catch (e) {
    failed += 1;
    console.log(`not ok ${i + 1} - ${t.name}\n  ${String(e && e.stack || e).split('\n').join('\n  ')}`);
    if (state.page && !state.page.isClosed()) {
      await state.page.screenshot({ path: join(ARTIFACTS, `failure-${i + 1}.png`) }).catch(() => {});
    }
  }
}
if (seen.pageErrors.length) {
  failed += 1;
  console.log(`not ok - page errors:\n  ${seen.pageErrors.join('\n  ')}`);
}
if (seen.cspConsole.length) {
  failed += 1;
  console.log(`not ok - CSP reports in the console:\n  ${seen.cspConsole.join('\n  ')}`);
}
await context.close();
console.log(`# browser tests took ${((Date.now() - t0) / 1000).toFixed(1)} s; screenshots in ${ARTIFACTS}`);
console.log(`${passed} passed, ${failed} failed`);
process.exit(failed ? 1 : 0);
