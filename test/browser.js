// test/browser.js MODE URL OUTDIR: drive Debian's Chromium, headless, with
// playwright-core (test/node/package.json) on a page of alba-serve, and
// print what the page showed as one JSON object, for test/browser.bats.
//   watch    the page of a build, until its state is final and both logs
//            ended: the states seen, the lines of both streams with their
//            spans and computed colours; a screenshot in OUTDIR/build.png
//   history  the page of a repository's builds: its rows
//   nojs     a page with JavaScript off: its text and links
'use strict';

const path = require('path');
const { chromium } = require(path.join(__dirname, 'node', 'node_modules', 'playwright-core'));

const [mode, url, outdir] = process.argv.slice(2);
const FLAGS = ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
	'--disable-background-networking', '--disable-component-update', '--disable-sync'];

async function watch(page) {
	const seen = [];
	const errors = [];
	page.on('pageerror', (e) => errors.push(String(e)));
	// Failed loads are told by the response (a browser asks /favicon.ico,
	// which albatros does not serve), the rest by the console.
	page.on('console', (m) => {
		if (m.type() === 'error' && !/^Failed to load resource/.test(m.text()))
			errors.push(m.text());
	});
	page.on('response', (r) => {
		if (r.status() >= 400 && !r.url().endsWith('/favicon.ico'))
			errors.push(r.status() + ' ' + r.url());
	});
	await page.goto(url);
	const t0 = Date.now();
	let live = null;
	for (;;) {
		const st = await page.textContent('#state');
		if (seen[seen.length - 1] !== st)
			seen.push(st);
		// Running, and its first lines on the page: let the build end
		// (the build script waits for this file).
		if (live === null && st === 'running') {
			const n = await page.evaluate(() => document.querySelectorAll('#log-stderr .line').length);
			if (n > 0) {
				live = await page.evaluate(() => document.getElementById('log-stderr').textContent);
				if (process.env.GO_FILE)
					require('fs').writeFileSync(process.env.GO_FILE, '');
			}
		}
		const done = await page.evaluate(() =>
			document.querySelectorAll('.log.done').length === 2);
		if (done && ['success', 'failure', 'error'].includes(st))
			break;
		if (Date.now() - t0 > Number(process.env.BROWSER_WAIT_MS || 30000))
			break;
		await page.waitForTimeout(50);
	}
	const out = await page.evaluate(() => {
		const stream = (s) => [...document.querySelectorAll('#log-' + s + ' .line')].map((l) => ({
			id: l.id,
			anchor: l.querySelector('.ln').getAttribute('href'),
			number: l.querySelector('.ln').textContent,
			text: l.querySelector('.tx').textContent,
			spans: [...l.querySelectorAll('.tx span')].map((sp) => ({
				text: sp.textContent,
				cls: sp.className,
				color: getComputedStyle(sp).color,
				weight: getComputedStyle(sp).fontWeight,
			})),
		}));
		const fact = (id) => document.getElementById(id).textContent;
		return {
			stderr: stream('stderr'), stdout: stream('stdout'),
			facts: { commit: fact('f-commit'), branch: fact('f-branch'), flavor: fact('f-flavor'),
				duration: fact('f-duration'), job: fact('f-job'), alloc: fact('f-alloc') },
			title: document.getElementById('title').textContent,
			pwned: window.albaPwned === undefined ? null : String(window.albaPwned),
			images: document.querySelectorAll('main img').length,
			scripts: document.querySelectorAll('main script').length,
		};
	});
	out.states = seen;
	out.live = live;
	out.errors = errors;
	await page.evaluate(() => window.scrollTo(0, 0));
	await page.screenshot({ path: path.join(outdir, 'build.png') });
	// A line anchor: the page opened on #L2 of stdout marks that line.
	const u = new URL(url);
	u.searchParams.set('log', 'stdout');
	u.hash = 'L2';
	await page.goto(u.toString());
	await page.waitForSelector('#log-stdout.done');
	await page.waitForTimeout(100);
	out.anchored = await page.evaluate(() =>
		[...document.querySelectorAll('.line.hl')].map((l) => l.id));
	return out;
}

async function history(page) {
	await page.goto(url);
	await page.waitForFunction(() => !document.getElementById('builds').hidden ||
		!document.getElementById('empty').hidden, null, { timeout: 15000 });
	await page.evaluate(() => window.scrollTo(0, 0));
	await page.screenshot({ path: path.join(outdir, 'builds.png') });
	return await page.evaluate(() => ({
		rows: [...document.querySelectorAll('#builds tbody tr')].map((tr) => ({
			state: tr.cells[0].textContent,
			commit: tr.cells[1].textContent,
			href: tr.cells[1].querySelector('a').getAttribute('href'),
			branch: tr.cells[2].textContent,
			flavor: tr.cells[3].textContent,
			job: tr.cells[7].textContent,
		})),
		empty: document.getElementById('empty').hidden ? null : document.getElementById('empty').textContent,
	}));
}

async function nojs(page) {
	await page.goto(url);
	const out = {
		text: await page.evaluate(() => document.body.innerText),
		links: await page.evaluate(() => [...document.querySelectorAll('a')].map((a) => a.href)),
	};
	const stderr = out.links.find((l) => /log=stderr&plain=true/.test(l));
	if (stderr) {
		const r = await page.goto(stderr);
		out.followed = { type: r.headers()['content-type'], text: await page.evaluate(() => document.body.innerText) };
	}
	return out;
}

(async () => {
	const browser = await chromium.launch({ executablePath: '/usr/bin/chromium', args: FLAGS });
	try {
		const ctx = await browser.newContext({ javaScriptEnabled: mode !== 'nojs',
			viewport: { width: 1100, height: 640 } });
		const page = await ctx.newPage();
		const fn = { watch, history, nojs }[mode];
		if (!fn)
			throw new Error('usage: browser.js watch|history|nojs URL OUTDIR');
		console.log(JSON.stringify(await fn(page)));
	} finally {
		await browser.close();
	}
})().catch((e) => { console.error(String(e && e.stack || e)); process.exit(1); });
