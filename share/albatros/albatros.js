// albatros.js: the pages of a build and of a repository's builds.
// Plain JavaScript, no framework, no build step.  Everything that comes
// from a log or from Nomad is put in the page as text (textContent), never
// as markup: a log holding <script> shows "<script>".
'use strict';

(function () {
	const $ = (id) => document.getElementById(id);
	const params = new URLSearchParams(location.search);

	function el(tag, cls, text) {
		const e = document.createElement(tag);
		if (cls)
			e.className = cls;
		if (text !== undefined && text !== null)
			e.textContent = String(text);
		return e;
	}

	function duration(from, to) {
		if (!from)
			return '–';
		const a = Date.parse(from), b = to ? Date.parse(to) : Date.now();
		if (isNaN(a) || isNaN(b))
			return '–';
		let s = Math.max(0, Math.round((b - a) / 1000));
		const h = Math.floor(s / 3600), m = Math.floor((s % 3600) / 60);
		s %= 60;
		return (h ? h + 'h ' : '') + (h || m ? m + 'm ' : '') + s + 's';
	}

	function when(t) {
		const d = t ? new Date(t) : null;
		if (!d || isNaN(d))
			return '–';
		const p = (n) => String(n).padStart(2, '0');
		return d.getFullYear() + '-' + p(d.getMonth() + 1) + '-' + p(d.getDate()) +
		    ' ' + p(d.getHours()) + ':' + p(d.getMinutes());
	}

	const FINAL = ['success', 'failure', 'error'];

	// ---- ANSI SGR to styled spans

	// xterm's 256 colours: 16 named (classes c0..c15, themed by the CSS),
	// a 6x6x6 cube, 24 greys.
	function xterm(n) {
		if (n < 16)
			return null;
		if (n < 232) {
			n -= 16;
			const v = (k) => (k ? k * 40 + 55 : 0);
			return 'rgb(' + v(Math.floor(n / 36)) + ', ' + v(Math.floor(n / 6) % 6) +
			    ', ' + v(n % 6) + ')';
		}
		const g = (n - 232) * 10 + 8;
		return 'rgb(' + g + ', ' + g + ', ' + g + ')';
	}

	// A colour from SGR parameters at i (38/48 already taken): returns
	// [colour, next index]; a colour is {c: 0..15} or {rgb: 'rgb(...)'}.
	function extended(ps, i) {
		if (ps[i] === 5 && i + 1 < ps.length) {
			const n = ps[i + 1];
			if (n >= 0 && n < 256)
				return [n < 16 ? { c: n } : { rgb: xterm(n) }, i + 2];
			return [null, i + 2];
		}
		if (ps[i] === 2 && i + 3 < ps.length) {
			const [r, g, b] = ps.slice(i + 1, i + 4).map((x) => Math.min(255, Math.max(0, x)));
			return [{ rgb: 'rgb(' + r + ', ' + g + ', ' + b + ')' }, i + 4];
		}
		return [null, ps.length];
	}

	function sgr(style, params) {
		// "38:2::r:g:b" and "38;2;r;g;b" both: colons read as semicolons,
		// an empty colour-space ID dropped.
		let ps = params.replace(/:(?=:)/g, '').split(/[;:]/).map((x) => (x === '' ? 0 : parseInt(x, 10)));
		if (params === '')
			ps = [0];
		for (let i = 0; i < ps.length;) {
			const p = ps[i++];
			if (isNaN(p))
				continue;
			if (p === 0)
				Object.assign(style, { fg: null, bg: null, bold: false, dim: false, italic: false, underline: false, inverse: false });
			else if (p === 1)
				style.bold = true;
			else if (p === 2)
				style.dim = true;
			else if (p === 3)
				style.italic = true;
			else if (p === 4)
				style.underline = true;
			else if (p === 7)
				style.inverse = true;
			else if (p === 22)
				style.bold = style.dim = false;
			else if (p === 23)
				style.italic = false;
			else if (p === 24)
				style.underline = false;
			else if (p === 27)
				style.inverse = false;
			else if (p >= 30 && p <= 37)
				style.fg = { c: p - 30 };
			else if (p >= 90 && p <= 97)
				style.fg = { c: p - 90 + 8 };
			else if (p >= 40 && p <= 47)
				style.bg = { c: p - 40 };
			else if (p >= 100 && p <= 107)
				style.bg = { c: p - 100 + 8 };
			else if (p === 39)
				style.fg = null;
			else if (p === 49)
				style.bg = null;
			else if (p === 38 || p === 48) {
				const [c, next] = extended(ps, i);
				i = next;
				if (c)
					style[p === 38 ? 'fg' : 'bg'] = c;
			}
		}
	}

	function styled(style, text) {
		const plain = !style.fg && !style.bg && !style.bold && !style.dim &&
		    !style.italic && !style.underline && !style.inverse;
		if (plain)
			return document.createTextNode(text);
		const s = el('span', null, text);
		let fg = style.fg, bg = style.bg;
		if (style.inverse) {
			[fg, bg] = [bg || { c: 'bg' }, fg || { c: 'fg' }];
		}
		// Named colours by class, the others by the CSSOM (allowed by the
		// page's Content-Security-Policy, unlike style attributes).
		if (fg && fg.c !== undefined)
			s.classList.add('fg-' + fg.c);
		else if (fg)
			s.style.color = fg.rgb;
		if (bg && bg.c !== undefined)
			s.classList.add('bg-' + bg.c);
		else if (bg)
			s.style.backgroundColor = bg.rgb;
		if (style.bold)
			s.classList.add('b');
		if (style.dim)
			s.classList.add('dim');
		if (style.italic)
			s.classList.add('i');
		if (style.underline)
			s.classList.add('u');
		return s;
	}

	// One stream's view: bytes in, numbered lines out.  Escape sequences
	// other than SGR are dropped, never interpreted; so are control
	// characters but tab.  A lone carriage return starts the line over, as
	// a terminal shows a progress bar.
	class LogView {
		constructor(box, stream, onLine) {
			this.box = box;
			this.stream = stream;
			this.onLine = onLine;
			this.style = {};
			sgr(this.style, '0');
			this.pending = '';
			this.n = 0;
			this.line = null;
			this.cr = false;
		}

		newLine() {
			this.n++;
			const row = el('div', 'line');
			row.id = this.stream + '-L' + this.n;
			const a = el('a', 'ln', this.n);
			a.href = '#L' + this.n;
			row.append(a, el('span', 'tx'));
			this.box.append(row);
			this.line = row.lastChild;
		}

		text(t) {
			if (t === '')
				return;
			if (!this.line)
				this.newLine();
			if (this.cr) {
				this.line.textContent = '';
				this.cr = false;
			}
			this.line.append(styled(this.style, t));
		}

		write(chunk, end) {
			let s = this.pending + chunk;
			this.pending = '';
			let i = 0, start = 0;
			const flush = (j) => {
				this.text(s.slice(start, j));
			};
			while (i < s.length) {
				const c = s.charCodeAt(i);
				if (c === 0x1b) {
					flush(i);
					const m = /^\x1b(?:\[([0-9;:?<=>]*)[ -\/]*([@-~])|\][^\x07\x1b]*(?:\x07|\x1b\\)|[@-Z\\^_]|[ -\/]+[0-~])/.exec(s.slice(i, i + 4096));
					if (!m) {
						if (!end && s.length - i < 4096) {
							this.pending = s.slice(i);
							return;
						}
						i++;	// a lone ESC: dropped
					} else {
						if (m[2] === 'm' && m[1] !== undefined && !/[?<=>]/.test(m[1]))
							sgr(this.style, m[1]);
						i += m[0].length;
					}
					start = i;
				} else if (c === 10) {
					flush(i);
					if (!this.line)
						this.newLine();
					this.cr = false;
					this.line = null;
					this.onLine(this);
					start = ++i;
				} else if (c === 13) {
					flush(i);
					if (i + 1 >= s.length && !end) {
						this.pending = '\r';
						return;
					}
					if (s.charCodeAt(i + 1) !== 10)
						this.cr = true;
					start = ++i;
				} else if ((c < 32 && c !== 9) || c === 0x7f) {
					flush(i);
					start = ++i;
				} else
					i++;
			}
			flush(s.length);
			if (end && this.line)
				this.onLine(this);
		}
	}

	// ---- the page of a build

	function buildPage() {
		const job = params.get('job') || '';
		let current = params.get('log') === 'stdout' ? 'stdout' : 'stderr';
		let follow = true, ended = 0, final = false;
		const views = {};
		const follow_box = $('follow');

		document.title = job + ' · albatros';
		$('title').textContent = job;

		function atBottom() {
			const d = document.scrollingElement;
			return d.scrollHeight - d.scrollTop - d.clientHeight < 40;
		}
		function tail() {
			if (follow)
				document.scrollingElement.scrollTop = document.scrollingElement.scrollHeight;
		}
		// Scrolling up stops following; back at the bottom follows again.
		let programmatic = false;
		window.addEventListener('scroll', () => {
			if (programmatic)
				return;
			follow = atBottom();
			follow_box.checked = follow;
		}, { passive: true });
		follow_box.addEventListener('change', () => {
			follow = follow_box.checked;
			tail();
		});
		let queued = false;
		function lineAdded(v) {
			$('count-' + v.stream).textContent = v.n;
			if (v.stream !== current || !follow || queued)
				return;
			queued = true;
			requestAnimationFrame(() => {
				queued = false;
				programmatic = true;
				tail();
				requestAnimationFrame(() => { programmatic = false; });
			});
		}

		function highlight() {
			const m = /^#L(\d+)$/.exec(location.hash);
			document.querySelectorAll('.line.hl').forEach((x) => x.classList.remove('hl'));
			if (!m)
				return false;
			const row = $(current + '-L' + m[1]);
			if (!row)
				return false;
			row.classList.add('hl');
			follow = false;
			follow_box.checked = false;
			row.scrollIntoView({ block: 'center' });
			return true;
		}
		let want_line = /^#L\d+$/.test(location.hash);
		window.addEventListener('hashchange', highlight);

		function show(stream) {
			current = stream;
			for (const s of ['stderr', 'stdout']) {
				$('log-' + s).hidden = s !== stream;
				$('tab-' + s).setAttribute('aria-selected', String(s === stream));
			}
			$('raw').href = '/build?job=' + encodeURIComponent(job) + '&log=' + stream + '&plain=true';
			const u = new URL(location.href);
			u.searchParams.set('log', stream);
			history.replaceState(null, '', u);
			if (!highlight())
				tail();
		}
		document.querySelectorAll('.tabs [role=tab]').forEach((b) =>
			b.addEventListener('click', () => show(b.dataset.stream)));

		async function stream(s) {
			const v = views[s] = new LogView($('log-' + s), s, lineAdded);
			const box = $('log-' + s);
			try {
				const r = await fetch('/build?job=' + encodeURIComponent(job) + '&log=' + s,
				    { headers: { Accept: 'text/plain' }, cache: 'no-store' });
				if (!r.ok) {
					box.append(el('div', 'note', (await r.text()).trim() || r.statusText));
					return;
				}
				const rd = r.body.getReader(), dec = new TextDecoder();
				for (;;) {
					const { value, done } = await rd.read();
					if (done)
						break;
					v.write(dec.decode(value, { stream: true }), false);
					if (want_line && s === current && highlight())
						want_line = false;
				}
				v.write(dec.decode(), true);
			} catch (e) {
				box.append(el('div', 'note', 'the log stream was cut: reload to read on'));
			} finally {
				if (want_line && s === current && highlight())
					want_line = false;
				box.classList.add('done');
				if (++ended === 2 && !final)
					poll();
			}
		}

		function set(id, v) {
			$(id).textContent = v === null || v === undefined || v === '' ? '–' : String(v);
		}
		let info = null;
		function facts() {
			if (!info)
				return;
			set('f-duration', duration(info.started_at, info.finished_at ||
			    (final ? info.started_at : null)));
		}
		// The state every 2 s until it is final (each look costs Nomad two
		// requests), and at once when both logs have ended.
		let timer = null, polling = false;
		async function poll() {
			if (polling)
				return;
			polling = true;
			clearTimeout(timer);
			try {
				const r = await fetch('/build/info?job=' + encodeURIComponent(job),
				    { headers: { Accept: 'application/json' }, cache: 'no-store' });
				const j = await r.json();
				if (!r.ok) {
					set('f-description', (j.error && j.error.message) || r.statusText);
					$('state').textContent = 'unknown';
				} else {
					info = j.builds[0];
					const st = $('state');
					st.textContent = info.state;
					st.dataset.state = info.state;
					document.body.dataset.state = info.state;
					set('f-commit', info.commit ? info.commit.slice(0, 12) : null);
					$('f-commit').title = info.commit || '';
					set('f-branch', info.branch);
					set('f-flavor', info.flavor);
					set('f-job', info.id);
					set('f-alloc', info.alloc_id);
					set('f-description', info.description);
					final = FINAL.includes(info.state);
					facts();
				}
			} catch (e) {
				// Try again at the next tick.
			}
			polling = false;
			if (!final)
				timer = setTimeout(poll, ended === 2 ? 500 : 2000);
		}
		setInterval(facts, 1000);

		show(current);
		poll();
		stream('stderr');
		stream('stdout');
	}

	// ---- the builds of a repository

	function buildsPage() {
		const repo = params.get('repo') || '';
		$('title').textContent = repo;
		document.title = repo + ' · albatros';
		const badge = $('badge');
		badge.src = '/badge?repo=' + encodeURIComponent(repo);
		badge.alt = 'build status';
		badge.hidden = false;
		const q = new URLSearchParams();
		for (const k of ['repo', 'branch', 'flavor', 'before'])
			if (params.get(k))
				q.set(k, params.get(k));
		fetch('/builds?' + q, { headers: { Accept: 'application/json' }, cache: 'no-store' })
			.then(async (r) => {
				const j = await r.json();
				if (!r.ok) {
					$('empty').textContent = (j.error && j.error.message) || r.statusText;
					$('empty').hidden = false;
					return;
				}
				const body = $('builds').tBodies[0];
				for (const b of j.builds) {
					const tr = el('tr');
					tr.dataset.state = b.state;
					const st = el('td');
					st.append(el('span', 'state', b.state));
					st.firstChild.dataset.state = b.state;
					const cm = el('td', 'id');
					const a = el('a', null, b.commit ? b.commit.slice(0, 12) : b.id);
					a.href = b.url;
					cm.append(a);
					tr.append(st, cm, el('td', null, b.branch || '–'), el('td', null, b.flavor || '–'),
					    el('td', null, b.sender || '–'), el('td', null, when(b.started_at || b.submitted_at)),
					    el('td', null, duration(b.started_at, b.finished_at)), el('td', 'id', b.id));
					body.append(tr);
				}
				$('builds').hidden = j.builds.length === 0;
				$('empty').hidden = j.builds.length !== 0;
				if (j.next) {
					const u = new URL(location.href);
					u.searchParams.set('before', j.next);
					$('next').href = u.pathname + u.search;
					$('more').hidden = false;
				}
			})
			.catch(() => {
				$('empty').textContent = 'albatros did not answer: reload to try again';
				$('empty').hidden = false;
			});
	}

	if (document.body.dataset.page === 'build')
		buildPage();
	else if (document.body.dataset.page === 'builds')
		buildsPage();
})();
