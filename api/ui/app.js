// The jobs dashboard: a single-page app over the JSON API, routed by the URL's
// hash. The API key lives in this tab's sessionStorage and goes out only as
// an Authorization header; every element is built with textContent, never
// from HTML strings, so no data the API returns can become markup.
'use strict';

const KEY_ITEM = 'jobs.apiKey';
const STATUSES = ['pending', 'processing', 'completed', 'failed', 'cancelled'];
const REASONS = ['permanent_error', 'attempts_exhausted', 'timed_out', 'dead_lettered', 'type_deleted'];
const OVERVIEW_REFRESH_MS = 5000;
const LIST_REFRESH_MS = 5000;
const JOB_REFRESH_MS = 1500;
const PAGE_SIZE = 20;
const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

const main = document.getElementById('main');
const banner = document.getElementById('banner');

// ---- DOM helpers -----------------------------------------------------------

/** An element with attributes (`on*` functions become listeners) and children (strings become text). */
function h(tag, attrs, ...children) {
  const el = document.createElement(tag);
  setAttrs(el, attrs);
  append(el, children);
  return el;
}

const SVG_NS = 'http://www.w3.org/2000/svg';

/** As `h`, in the SVG namespace. */
function s(tag, attrs, ...children) {
  const el = document.createElementNS(SVG_NS, tag);
  setAttrs(el, attrs);
  append(el, children);
  return el;
}

function setAttrs(el, attrs) {
  for (const [name, value] of Object.entries(attrs || {})) {
    if (value === undefined || value === null || value === false) continue;
    if (name.startsWith('on') && typeof value === 'function') {
      el.addEventListener(name.slice(2), value);
    } else {
      el.setAttribute(name, value === true ? '' : String(value));
    }
  }
}

function append(el, children) {
  for (const child of children.flat(Infinity)) {
    if (child === undefined || child === null || child === false) continue;
    el.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
}

/** Replaces `el`'s children, keeping the focus on the element with the same `data-k`, if any. */
function replace(el, ...children) {
  const focused = document.activeElement;
  const k = focused && el.contains(focused) ? focused.getAttribute('data-k') : null;
  el.replaceChildren();
  append(el, children);
  if (k) {
    const again = el.querySelector(`[data-k="${CSS.escape(k)}"]`);
    if (again) again.focus();
  }
}

// ---- Formatting ------------------------------------------------------------

const dateTime = new Intl.DateTimeFormat(undefined, { dateStyle: 'medium', timeStyle: 'medium' });
const clock = new Intl.DateTimeFormat(undefined, { hour: '2-digit', minute: '2-digit', second: '2-digit' });
const hourMinute = new Intl.DateTimeFormat(undefined, { hour: '2-digit', minute: '2-digit' });

/** A duration in seconds, in its two largest units: `3 min 20 s`, `2 h 5 min`. */
function duration(seconds) {
  seconds = Math.max(0, Math.round(seconds));
  if (seconds < 60) return `${seconds} s`;
  const units = [['d', 86400], ['h', 3600], ['min', 60], ['s', 1]];
  const parts = [];
  for (const [unit, size] of units) {
    if (seconds >= size && parts.length < 2) {
      parts.push(`${Math.floor(seconds / size)} ${unit}`);
      seconds %= size;
    } else if (parts.length) {
      break;
    }
  }
  return parts.join(' ');
}

/** A `<time>` showing when, relative to now, with the full time as its tooltip. */
function when(iso) {
  if (!iso) return h('span', { class: 'muted' }, '—');
  const at = new Date(iso);
  const ago = (Date.now() - at.getTime()) / 1000;
  const text = ago >= 0 ? `${duration(ago)} ago` : `in ${duration(-ago)}`;
  return h('time', { datetime: iso, title: dateTime.format(at) }, text);
}

/** A `<time>` with the full local time. */
function fullTime(iso) {
  if (!iso) return h('span', { class: 'muted' }, '—');
  return h('time', { datetime: iso }, dateTime.format(new Date(iso)));
}

function badge(status) {
  return h('span', { class: `badge status-${status}` }, status);
}

function words(snake) {
  return String(snake).replace(/_/g, ' ');
}

function json(value) {
  return h('pre', { class: 'json', tabindex: 0 }, JSON.stringify(value, null, 2));
}

function shortId(id) {
  return id.slice(0, 8) + '…' + id.slice(-4);
}

// ---- The API ---------------------------------------------------------------

/** Why a call failed: `down` (no answer), `unauthorized` (401), or `problem` (any other refusal). */
class ApiError extends Error {
  constructor(kind, status, message, problem) {
    super(message);
    this.kind = kind;
    this.status = status;
    this.problem = problem;
  }
}

function apiKey() {
  return sessionStorage.getItem(KEY_ITEM);
}

/** Calls the API as the signed-in tenant; answers the JSON body, or throws an ApiError. */
async function api(method, path, body) {
  const headers = { Authorization: `Bearer ${apiKey()}`, Accept: 'application/json' };
  const init = { method, headers, cache: 'no-store', credentials: 'omit', redirect: 'error' };
  if (body !== undefined) {
    headers['Content-Type'] = 'application/json';
    init.body = JSON.stringify(body);
  }
  let response;
  try {
    response = await fetch(path, init);
  } catch (err) {
    showBanner(`The API at ${location.origin} cannot be reached. The dashboard keeps trying.`);
    throw new ApiError('down', 0, `The API cannot be reached (${err.message}).`);
  }
  const text = await response.text();
  let data = null;
  try {
    data = text ? JSON.parse(text) : null;
  } catch {
    data = null;
  }
  if (response.status === 401) {
    throw new ApiError('unauthorized', 401, (data && data.detail) || 'The API refused the key.', data);
  }
  if (!response.ok) {
    // A gateway's own error page (no problem+json): the API behind it is away.
    if (response.status >= 502 && !(data && data.title)) {
      showBanner(`The API answers ${response.status}: it is unavailable. The dashboard keeps trying.`);
      throw new ApiError('down', response.status, `The API is unavailable (${response.status}).`);
    }
    const fields = data && Array.isArray(data.errors)
      ? ' ' + data.errors.map((e) => `${e.field}: ${e.message}`).join('; ')
      : '';
    const message = data && (data.detail || data.title)
      ? `${data.detail || data.title}${fields}`
      : `The API answered ${response.status}.`;
    hideBanner();
    throw new ApiError('problem', response.status, message, data);
  }
  hideBanner();
  return data;
}

function showBanner(text) {
  banner.textContent = text;
  banner.hidden = false;
}

function hideBanner() {
  banner.hidden = true;
}

// ---- Views, routing and refresh --------------------------------------------

/** The view being shown: its timers stop and its late answers are dropped when another replaces it. */
let current = { id: 0, timers: [] };

function newView() {
  current.timers.forEach(clearInterval);
  current = { id: current.id + 1, timers: [] };
  return current;
}

/** Runs `fn` every `ms` while `view` is shown. */
function every(view, ms, fn) {
  view.timers.push(setInterval(() => {
    if (view === current && !document.hidden) fn();
  }, ms));
}

/** The route in the hash: `#/jobs/ID?status=failed` is `['jobs', 'ID']` with its parameters. */
function route() {
  const hash = location.hash.replace(/^#/, '') || '/';
  const [path, query] = hash.split('?');
  const parts = path.split('/').filter(Boolean).map((part) => {
    try {
      return decodeURIComponent(part);
    } catch {
      return part;
    }
  });
  return { parts, params: new URLSearchParams(query || '') };
}

function go(hash) {
  if (location.hash === hash) render();
  else location.hash = hash;
}

function hashWith(base, params) {
  const query = new URLSearchParams();
  for (const [name, value] of Object.entries(params)) if (value) query.set(name, value);
  const text = query.toString();
  return text ? `${base}?${text}` : base;
}

const ROUTES = {
  '': overview,
  overview,
  jobs: (parts, params, view) => (parts[1] ? jobPage(parts[1], view) : jobList(params, view, false)),
  failed: (parts, params, view) => jobList(params, view, true),
  types: (parts, params, view) => (parts[1] ? typePage(parts[1], view) : typeList(view)),
  schedules: (parts, params, view) => (parts[1] ? schedulePage(parts[1], view) : scheduleList(view)),
};

function render() {
  const view = newView();
  const { parts, params } = route();
  const signedIn = Boolean(apiKey());
  document.getElementById('nav').hidden = !signedIn;
  document.getElementById('sign-out').hidden = !signedIn;
  if (!signedIn) {
    login(view, null);
    return;
  }
  const name = parts[0] || '';
  for (const link of document.querySelectorAll('#nav a')) {
    const active = link.dataset.route === (name || 'overview');
    if (active) link.setAttribute('aria-current', 'page');
    else link.removeAttribute('aria-current');
  }
  const show = ROUTES[name];
  if (!show) {
    replace(main, h('h1', {}, 'Not found'), h('p', {}, 'No such page. ', h('a', { href: '#/' }, 'Go to the overview.')));
    focusHeading();
    return;
  }
  replace(main, h('p', { class: 'muted', role: 'status' }, 'Loading…'));
  Promise.resolve(show(parts, params, view)).catch((err) => failed(view, err));
}

/** Moves the focus to the new page's heading, so keyboard and screen-reader users start there. */
function focusHeading() {
  const heading = main.querySelector('h1');
  if (heading) {
    heading.setAttribute('tabindex', '-1');
    heading.focus({ preventScroll: false });
  }
}

/** Shows what went wrong in place of the view: a refused key sends back to sign-in. */
function failed(view, err) {
  if (view !== current) return;
  if (err instanceof ApiError && err.kind === 'unauthorized') {
    sessionStorage.removeItem(KEY_ITEM);
    document.getElementById('nav').hidden = true;
    document.getElementById('sign-out').hidden = true;
    login(view, `The API refused the key: ${err.message} Sign in with a valid key.`);
    return;
  }
  const down = err instanceof ApiError && err.kind === 'down';
  replace(
    main,
    h('h1', {}, down ? 'The API cannot be reached' : 'Something went wrong'),
    h('p', { class: 'error', role: 'alert' }, err.message || String(err)),
    down ? h('p', {}, 'Check that the API is running, then try again.') : null,
    h('button', { type: 'button', id: 'try-again', onclick: render }, 'Try again'),
  );
  focusHeading();
  if (down) every(view, OVERVIEW_REFRESH_MS, render);
}

/** A refresh that fails keeps the page (the banner says when the API is down); a refused key sends back to sign-in. */
async function refreshing(view, fn) {
  try {
    await fn();
  } catch (err) {
    if (err instanceof ApiError && err.kind === 'unauthorized') failed(view, err);
  }
}

/** What an action said, kept for the view it re-renders. */
let flash = null;

function takeFlash() {
  const shown = flash;
  flash = null;
  return shown;
}

// ---- Confirmation dialog ---------------------------------------------------

/** Asks before an action; resolves true when confirmed. Escape or "Keep it" says no. */
function confirmAction(title, text, yesLabel) {
  const dialog = document.getElementById('confirm');
  document.getElementById('confirm-title').textContent = title;
  document.getElementById('confirm-text').textContent = text;
  const yes = document.getElementById('confirm-yes');
  const no = document.getElementById('confirm-no');
  yes.textContent = yesLabel;
  return new Promise((resolve) => {
    const done = (answer) => {
      yes.onclick = null;
      no.onclick = null;
      dialog.oncancel = null;
      if (dialog.open) dialog.close();
      resolve(answer);
    };
    yes.onclick = () => done(true);
    no.onclick = () => done(false);
    dialog.oncancel = (event) => {
      event.preventDefault();
      done(false);
    };
    dialog.showModal();
    no.focus();
  });
}

/** A line that says how an action went, read out by screen readers. */
function notice(text, kind) {
  return h('p', { class: `notice ${kind || ''}`, role: 'status' }, text);
}

// ---- Sign-in ---------------------------------------------------------------

function login(view, message) {
  const input = h('input', {
    id: 'api-key', type: 'password', autocomplete: 'off', spellcheck: 'false', required: true,
    'aria-describedby': 'key-help',
  });
  const status = h('div', { id: 'login-status', role: 'alert' }, message ? h('p', { class: 'error' }, message) : null);
  const submit = async (event) => {
    event.preventDefault();
    const key = input.value.trim();
    if (!key) {
      replace(status, h('p', { class: 'error' }, 'Enter an API key.'));
      return;
    }
    sessionStorage.setItem(KEY_ITEM, key);
    try {
      await api('GET', '/v1/stats');
    } catch (err) {
      sessionStorage.removeItem(KEY_ITEM);
      const text = err.kind === 'unauthorized'
        ? `The API refused this key (${err.message}). Check it and try again.`
        : err.message;
      replace(status, h('p', { class: 'error' }, text));
      input.focus();
      return;
    }
    render();
  };
  replace(
    main,
    h('section', { class: 'login' },
      h('h1', {}, 'Sign in'),
      h('p', {}, 'The dashboard shows your tenant’s jobs, as the API does for your API key.'),
      h('form', { onsubmit: submit },
        h('label', { for: 'api-key' }, 'API key'),
        input,
        h('p', { id: 'key-help', class: 'hint' },
          'A key starts with ', h('code', {}, 'jk_'), '. ', h('code', {}, 'scripts/dev'),
          ' prints one; ', h('code', {}, 'api keys create --tenant NAME'), ' makes one. ',
          'It is kept in this browser tab only, until you sign out or close the tab.'),
        h('button', { type: 'submit', id: 'sign-in' }, 'Sign in')),
      status));
  if (view === current) input.focus();
}

document.getElementById('sign-out').addEventListener('click', () => {
  sessionStorage.removeItem(KEY_ITEM);
  go('#/');
});

// ---- Overview --------------------------------------------------------------

async function overview(parts, params, view) {
  const updated = h('p', { class: 'muted', id: 'updated', 'aria-live': 'off' });
  const body = h('div', { id: 'overview' });
  const draw = async () => {
    const stats = await api('GET', '/v1/stats');
    if (view !== current) return;
    replace(body, overviewBody(stats));
    updated.textContent = `Updated ${clock.format(new Date(stats.as_of))} · refreshes every ${OVERVIEW_REFRESH_MS / 1000} s`;
  };
  await draw();
  if (view !== current) return;
  replace(main, h('h1', {}, 'Overview'), updated, body);
  focusHeading();
  every(view, OVERVIEW_REFRESH_MS, () => refreshing(view, draw));
}

function overviewBody(stats) {
  const total = STATUSES.reduce((sum, status) => sum + stats.by_status[status], 0);
  const cards = h('ul', { class: 'cards', 'aria-label': 'Jobs by status' },
    STATUSES.map((status) => h('li', {},
      h('a', { class: `card status-${status}`, href: hashWith('#/jobs', { status }), 'data-k': `card-${status}`, id: `count-${status}` },
        h('span', { class: 'number' }, stats.by_status[status].toLocaleString()),
        h('span', { class: 'label' }, status)))),
    h('li', {}, oldestCard(stats.oldest_pending)));
  const finished = stats.per_minute.reduce((sum, m) => [sum[0] + m.completed, sum[1] + m.failed], [0, 0]);
  return [
    cards,
    total === 0
      ? h('div', { class: 'empty' },
        h('p', {}, 'No jobs yet. Submit one and it appears here within seconds:'),
        h('pre', {}, `curl -X POST ${location.origin}/v1/jobs -H "Authorization: Bearer $JOBS_API_KEY" \\\n  -H 'Content-Type: application/json' -d '{"type":"noop","payload":{}}'`))
      : null,
    h('section', { class: 'panel' },
      h('h2', {}, 'Throughput, last hour'),
      h('p', { class: 'muted' }, `${finished[0].toLocaleString()} completed and ${finished[1].toLocaleString()} failed in the last 60 minutes, per minute.`),
      throughputChart(stats.per_minute)),
    h('section', { class: 'panel' },
      h('h2', {}, 'Jobs by status'),
      statusChart(stats.by_status)),
    h('section', { class: 'panel' },
      h('h2', {}, 'Jobs by type'),
      stats.by_type.length ? typeTable(stats.by_type) : h('p', { class: 'muted' }, 'No jobs of any type yet.')),
  ];
}

function oldestCard(oldest) {
  if (!oldest) {
    return h('div', { class: 'card', id: 'oldest-pending' },
      h('span', { class: 'number' }, '—'),
      h('span', { class: 'label' }, 'no job waiting'));
  }
  return h('a', { class: 'card', id: 'oldest-pending', href: `#/jobs/${oldest.id}`, 'data-k': 'oldest' },
    h('span', { class: 'number' }, duration(oldest.age_seconds)),
    h('span', { class: 'label' }, 'oldest waiting job'));
}

/** Rounds a chart's top up to 1, 2 or 5 times a power of ten. */
function niceMax(value) {
  if (value <= 4) return 4;
  const power = 10 ** Math.floor(Math.log10(value));
  for (const step of [1, 2, 5, 10]) if (step * power >= value) return step * power;
  return 10 * power;
}

/** Completed (below) and failed (stacked on top) jobs per minute as SVG bars. */
function throughputChart(minutes) {
  const width = 600;
  const height = 160;
  const top = niceMax(Math.max(...minutes.map((m) => m.completed + m.failed), 0));
  const slot = width / minutes.length;
  const y = (count) => (count / top) * height;
  const grid = [0.25, 0.5, 0.75, 1].map((f) => s('line', {
    x1: 0, x2: width, y1: height - f * height, y2: height - f * height, class: 'grid',
  }));
  const bars = minutes.map((m, i) => {
    const x = i * slot + 1;
    const done = y(m.completed);
    const fail = y(m.failed);
    return s('g', {},
      s('title', {}, `${hourMinute.format(new Date(m.minute))}: ${m.completed} completed, ${m.failed} failed`),
      s('rect', { x, width: slot - 2, y: 0, height, class: 'hit' }),
      done ? s('rect', { x, width: slot - 2, y: height - done, height: done, class: 'completed' }) : null,
      fail ? s('rect', { x, width: slot - 2, y: height - done - fail, height: fail, class: 'failed' }) : null);
  });
  const first = minutes[0];
  const last = minutes[minutes.length - 1];
  return h('figure', { class: 'chart' },
    h('div', { class: 'plot' },
      h('div', { class: 'y-axis', 'aria-hidden': 'true' }, h('span', {}, String(top)), h('span', {}, '0')),
      s('svg', {
        viewBox: `0 0 ${width} ${height}`, preserveAspectRatio: 'none', role: 'img', id: 'throughput-chart',
        'aria-label': 'Completed and failed jobs per minute over the last hour',
      }, grid, bars)),
    h('div', { class: 'x-axis', 'aria-hidden': 'true' },
      h('span', {}, first ? hourMinute.format(new Date(first.minute)) : ''),
      h('span', {}, last ? `${hourMinute.format(new Date(last.minute))} (now)` : '')),
    h('figcaption', { class: 'legend' },
      h('span', { class: 'key completed' }, 'completed'),
      h('span', { class: 'key failed' }, 'failed')));
}

/** One horizontal bar per status, with its count. */
function statusChart(counts) {
  const most = Math.max(...STATUSES.map((status) => counts[status]), 1);
  const row = 28;
  const labelWidth = 110;
  const barWidth = 380;
  return h('figure', { class: 'chart' },
    s('svg', {
      viewBox: `0 0 ${labelWidth + barWidth + 70} ${row * STATUSES.length}`, role: 'img', id: 'status-chart',
      'aria-label': STATUSES.map((status) => `${counts[status]} ${status}`).join(', '),
    }, STATUSES.map((status, i) => {
      const w = (counts[status] / most) * barWidth;
      return s('g', {},
        s('text', { x: labelWidth - 8, y: i * row + row / 2, class: 'label', 'text-anchor': 'end', 'dominant-baseline': 'middle' }, status),
        s('rect', { x: labelWidth, y: i * row + 5, width: Math.max(w, counts[status] ? 2 : 0), height: row - 10, class: `bar status-${status}` }),
        s('text', { x: labelWidth + w + 6, y: i * row + row / 2, class: 'value', 'dominant-baseline': 'middle' }, counts[status].toLocaleString()));
    })));
}

function typeTable(types) {
  return h('div', { class: 'scroll' },
    h('table', {},
      h('caption', { class: 'sr-only' }, 'Jobs of each type by status'),
      h('thead', {}, h('tr', {}, h('th', { scope: 'col' }, 'Type'), STATUSES.map((status) => h('th', { scope: 'col', class: 'num' }, status)))),
      h('tbody', {}, types.map((t) => h('tr', {},
        h('th', { scope: 'row' }, h('a', { href: hashWith('#/jobs', { type: t.type }), 'data-k': `type-${t.type}` }, t.type)),
        STATUSES.map((status) => h('td', { class: 'num' },
          t.counts[status]
            ? h('a', { href: hashWith('#/jobs', { type: t.type, status }), 'data-k': `type-${t.type}-${status}` }, t.counts[status].toLocaleString())
            : h('span', { class: 'muted' }, '0'))))))));
}

// ---- Job lists (all jobs, and the failed ones) ------------------------------

/** Page tokens of the pages before the current one, per filter, for "Newer". */
const previousPages = new Map();

function select(id, label, value, options, onchange) {
  return h('label', { class: 'field', for: id }, h('span', {}, label),
    h('select', { id, onchange },
      h('option', { value: '' }, 'any'),
      options.map((option) => h('option', { value: option, selected: option === value }, words(option)))));
}

async function jobList(params, view, failedOnly) {
  const base = failedOnly ? '#/failed' : '#/jobs';
  const filter = {
    status: failedOnly ? 'failed' : params.get('status') || '',
    type: params.get('type') || '',
    failure_reason: params.get('failure_reason') || '',
    schedule: failedOnly ? '' : params.get('schedule') || '',
    idempotency_key: failedOnly ? '' : params.get('idempotency_key') || '',
  };
  const token = params.get('page_token') || '';
  const filterKey = `${base}|${JSON.stringify(filter)}`;
  const typesAnswer = await api('GET', '/v1/job-types');
  if (view !== current) return;
  const typeNames = typesAnswer.job_types.map((t) => t.name);
  if (filter.type && !typeNames.includes(filter.type)) typeNames.push(filter.type);

  const shown = { ...filter };
  if (failedOnly) delete shown.status;
  const apply = (changes) => {
    previousPages.delete(filterKey);
    const next = { ...shown, ...changes };
    if (failedOnly) {
      delete next.schedule;
      delete next.idempotency_key;
    }
    go(hashWith(base, next));
  };
  const message = h('div', { id: 'list-message' }, takeFlash());
  const search = h('input', {
    id: 'search', type: 'search', value: filter.idempotency_key, placeholder: 'job id or idempotency key',
    autocomplete: 'off', spellcheck: 'false',
  });
  const onSearch = async (event) => {
    event.preventDefault();
    const q = search.value.trim();
    if (UUID.test(q)) {
      try {
        await api('GET', `/v1/jobs/${encodeURIComponent(q)}`);
        go(`#/jobs/${q.toLowerCase()}`);
      } catch (err) {
        if (err.kind === 'problem' && err.status === 404) {
          replace(message, notice(`No job of yours has the id ${q}.`, 'error'));
        } else {
          failed(view, err);
        }
      }
      return;
    }
    apply({ idempotency_key: q });
  };
  const filters = h('div', { class: 'filters' },
    failedOnly ? null : select('filter-status', 'Status', filter.status, STATUSES, (e) => apply({ status: e.target.value })),
    select('filter-type', 'Type', filter.type, typeNames, (e) => apply({ type: e.target.value })),
    failedOnly || filter.status === 'failed' || filter.failure_reason
      ? select('filter-reason', 'Failure reason', filter.failure_reason, REASONS, (e) => apply({ failure_reason: e.target.value }))
      : null,
    filter.schedule ? h('p', { class: 'chip' }, `schedule ${filter.schedule} `,
      h('a', { href: hashWith(base, { ...shown, schedule: '' }) }, 'show all')) : null);
  const searchForm = failedOnly ? null : h('form', { class: 'search', role: 'search', onsubmit: onSearch },
    h('label', { for: 'search' }, 'Find a job'),
    search,
    h('button', { type: 'submit', id: 'search-button' }, 'Find'));

  const table = h('div', { id: 'job-table' });
  const pager = h('nav', { class: 'pager', 'aria-label': 'Pages' });
  const query = { ...filter, limit: PAGE_SIZE, page_token: token };
  let last = null;
  const draw = async () => {
    const page = await api('GET', hashWith('/v1/jobs', query));
    if (view !== current) return;
    const fingerprint = JSON.stringify(page);
    if (fingerprint === last) return;
    last = fingerprint;
    replace(table, page.jobs.length ? jobTable(page.jobs, failedOnly) : emptyList(filter, failedOnly, token, base));
    const stack = previousPages.get(filterKey) || [];
    replace(pager,
      token
        ? h('button', {
          type: 'button', id: 'prev-page', 'data-k': 'prev',
          onclick: () => {
            const earlier = stack.slice(0, -1);
            previousPages.set(filterKey, earlier);
            go(hashWith(base, { ...shown, page_token: stack[stack.length - 1] || '' }));
          },
        }, '← Newer')
        : null,
      h('span', { class: 'muted', id: 'page-number' }, `Page ${stack.length + 1}`),
      page.next_page_token
        ? h('button', {
          type: 'button', id: 'next-page', 'data-k': 'next',
          onclick: () => {
            previousPages.set(filterKey, [...stack, token]);
            go(hashWith(base, { ...shown, page_token: page.next_page_token }));
          },
        }, 'Older →')
        : null);
  };
  await draw();
  if (view !== current) return;

  const heading = failedOnly ? 'Failed jobs' : 'Jobs';
  const intro = failedOnly
    ? h('p', {}, 'Jobs that failed for good: their handler refused them, they ran out of attempts or time, or Pub/Sub gave up on them. ',
      'Open one to see its error, or send every match back to pending.')
    : h('p', { class: 'muted' }, 'Newest first. The first page refreshes every few seconds.');
  const bulk = failedOnly ? h('div', { class: 'bulk' },
    h('button', {
      type: 'button', id: 'retry-all', class: 'primary',
      onclick: () => retryAll(view, filter, message),
    }, 'Retry all matching'),
    h('span', { class: 'muted' }, filter.type || filter.failure_reason ? ' the failed jobs these filters match' : ' every failed job')) : null;
  replace(main, h('h1', {}, heading), intro, searchForm, filters, bulk, message, table, pager);
  focusHeading();
  if (!token) every(view, LIST_REFRESH_MS, () => refreshing(view, draw));
}

function emptyList(filter, failedOnly, token, base) {
  const filtered = Object.entries(filter).some(([name, value]) => value && !(failedOnly && name === 'status'));
  if (token) return h('p', { class: 'empty' }, 'No more jobs. ', h('a', { href: base }, 'Back to the first page.'));
  if (filter.idempotency_key) {
    return h('p', { class: 'empty' }, `No job of yours has the idempotency key “${filter.idempotency_key}”. `,
      h('a', { href: base }, 'Show all jobs.'));
  }
  if (filtered) return h('p', { class: 'empty' }, 'No jobs match these filters. ', h('a', { href: base }, 'Clear the filters.'));
  return h('p', { class: 'empty' }, failedOnly ? 'No failed jobs. Nothing to retry.' : 'No jobs yet. Jobs you submit appear here.');
}

function jobTable(jobs, failedOnly) {
  return h('div', { class: 'scroll' },
    h('table', { class: 'jobs' },
      h('caption', { class: 'sr-only' }, failedOnly ? 'Failed jobs, newest first' : 'Jobs, newest first'),
      h('thead', {}, h('tr', {},
        h('th', { scope: 'col' }, 'Job'),
        h('th', { scope: 'col' }, 'Type'),
        h('th', { scope: 'col' }, 'Status'),
        h('th', { scope: 'col', class: 'num wide' }, 'Attempts'),
        h('th', { scope: 'col', class: 'wide' }, 'Created'),
        h('th', { scope: 'col' }, failedOnly ? 'Error' : 'Finished'))),
      h('tbody', {}, jobs.map((job) => h('tr', { class: 'job-row', 'data-id': job.id },
        h('td', {}, h('a', { href: `#/jobs/${job.id}`, class: 'mono', 'data-k': `job-${job.id}`, title: job.id }, shortId(job.id))),
        h('td', {}, job.type),
        h('td', {}, badge(job.status), job.failure_reason ? h('span', { class: 'reason' }, words(job.failure_reason)) : null),
        h('td', { class: 'num wide' }, `${job.attempts}/${job.max_attempts}`),
        h('td', { class: 'wide' }, when(job.created_at)),
        h('td', {}, failedOnly
          ? h('span', { class: 'error-text', title: job.error || '' }, job.error || '—')
          : when(job.finished_at)))))));
}

/** Sends every failed job the filter matches back to pending, 1,000 per call. */
async function retryAll(view, filter, message) {
  const scope = [filter.type && `of type ${filter.type}`, filter.failure_reason && `that failed as ${words(filter.failure_reason)}`]
    .filter(Boolean).join(' ');
  const yes = await confirmAction(
    'Retry failed jobs?',
    `Every failed job ${scope || 'of yours'} goes back to pending with at least one more attempt, and runs again.`,
    'Retry them');
  if (!yes) return;
  const body = { limit: 1000 };
  if (filter.type) body.type = filter.type;
  if (filter.failure_reason) body.failure_reason = filter.failure_reason;
  let total = 0;
  try {
    for (let calls = 0; calls < 100; calls++) {
      const answer = await api('POST', '/v1/jobs/retry', body);
      total += answer.requeued;
      if (!answer.next_page_token) break;
      body.page_token = answer.next_page_token;
    }
  } catch (err) {
    if (view === current) replace(message, notice(`Retried ${total}, then: ${err.message}`, 'error'));
    return;
  }
  if (view !== current) return;
  flash = notice(total === 1 ? '1 job sent back to pending.' : `${total.toLocaleString()} jobs sent back to pending.`, 'ok');
  render();
}

// ---- One job -----------------------------------------------------------------

async function jobPage(id, view) {
  if (!UUID.test(id)) {
    replace(main, h('h1', {}, 'No such job'), h('p', {}, `“${id}” is not a job id. `, h('a', { href: '#/jobs' }, 'Back to the jobs.')));
    focusHeading();
    return;
  }
  const path = `/v1/jobs/${encodeURIComponent(id)}`;
  const message = h('div', { id: 'job-message' });
  const body = h('div', { id: 'job' });
  let job;
  const draw = async () => {
    let events;
    try {
      let history;
      [job, history] = await Promise.all([api('GET', path), api('GET', `${path}/events`)]);
      events = history.events;
    } catch (err) {
      if (err.kind === 'problem' && err.status === 404) {
        if (view !== current) return;
        replace(main, h('h1', {}, 'No such job'),
          h('p', {}, `None of your jobs has the id ${id}: it was never submitted with your key, or it finished long enough ago to be deleted. `,
            h('a', { href: '#/jobs' }, 'Back to the jobs.')));
        focusHeading();
        view.timers.forEach(clearInterval);
        return;
      }
      throw err;
    }
    if (view !== current) return;
    replace(body, jobBody(job, events, view, message));
  };
  await draw();
  if (view !== current || !job) return;
  replace(main,
    h('p', { class: 'crumbs' }, h('a', { href: '#/jobs' }, '← Jobs')),
    h('h1', {}, `Job ${shortId(id)}`),
    message, body);
  focusHeading();
  // Followed live until it ends; a retry or cancel redraws it at once.
  every(view, JOB_REFRESH_MS, () => {
    if (job && !['completed', 'failed', 'cancelled'].includes(job.status)) refreshing(view, draw);
  });
  view.redraw = draw;
}

function jobBody(job, events, view, message) {
  const canRetry = job.status === 'failed' || job.status === 'cancelled';
  const canCancel = (job.status === 'pending' || job.status === 'processing') && !job.cancel_requested_at;
  const act = async (action) => {
    const retry = action === 'retry';
    const yes = await confirmAction(
      retry ? 'Retry this job?' : 'Cancel this job?',
      retry
        ? `The ${job.type} job goes back to pending with at least one more attempt, and runs again.`
        : job.status === 'processing'
          ? 'Its worker stops it within seconds, unless it finishes first.'
          : 'It will not run.',
      retry ? 'Retry' : 'Cancel job');
    if (!yes) return;
    try {
      await api('POST', `/v1/jobs/${job.id}/${action}`);
    } catch (err) {
      if (err.kind === 'unauthorized') {
        failed(view, err);
        return;
      }
      replace(message, notice(`Not done: ${err.message}`, 'error'));
      return;
    }
    replace(message, notice(retry ? 'Sent back to pending; it runs again shortly.' : 'Cancel requested.', 'ok'));
    await refreshing(view, view.redraw);
  };
  const rows = [
    ['Status', [badge(job.status), job.failure_reason ? h('span', { class: 'reason' }, words(job.failure_reason)) : null,
      job.cancel_requested_at ? h('span', { class: 'reason' }, 'cancel requested') : null]],
    ['Type', h('a', { href: `#/types/${encodeURIComponent(job.type)}` }, job.type)],
    ['Id', h('span', { class: 'mono', id: 'job-id' }, job.id)],
    ['Attempts', `${job.attempts} of ${job.max_attempts}`],
    ['Timeout', `${job.timeout_seconds} s per attempt`],
    ['Submitted', fullTime(job.created_at)],
    ['Runs from', fullTime(job.run_at)],
    ['Started', fullTime(job.started_at)],
    ['Finished', fullTime(job.finished_at)],
    ['Ran for', job.started_at && job.finished_at
      ? duration((new Date(job.finished_at) - new Date(job.started_at)) / 1000) : h('span', { class: 'muted' }, '—')],
    ['Last change', fullTime(job.updated_at)],
    job.idempotency_key ? ['Idempotency key', h('span', { class: 'mono' }, job.idempotency_key)] : null,
    job.schedule ? ['Schedule', h('a', { href: `#/schedules/${encodeURIComponent(job.schedule)}` }, job.schedule)] : null,
    job.callback_url ? ['Callback', h('span', { class: 'mono' }, job.callback_url)] : null,
    job.cancel_requested_at ? ['Cancel requested', fullTime(job.cancel_requested_at)] : null,
  ].filter(Boolean);
  return [
    h('div', { class: 'actions' },
      canRetry ? h('button', { type: 'button', id: 'retry', class: 'primary', 'data-k': 'retry', onclick: () => act('retry') }, 'Retry…') : null,
      canCancel ? h('button', { type: 'button', id: 'cancel', class: 'danger', 'data-k': 'cancel', onclick: () => act('cancel') }, 'Cancel…') : null),
    job.error
      ? h('section', { class: 'error-box', id: 'job-error', 'aria-labelledby': 'error-heading' },
        h('h2', { id: 'error-heading' }, job.status === 'failed' ? 'Why it failed' : 'Last error'),
        h('pre', {}, job.error))
      : null,
    h('section', { class: 'panel' },
      h('h2', {}, 'Details'),
      h('dl', { class: 'facts' }, rows.map(([name, value]) => [h('dt', {}, name), h('dd', { 'data-field': name }, value)]))),
    h('section', { class: 'panel' }, h('h2', {}, 'Payload'), json(job.payload)),
    h('section', { class: 'panel' }, h('h2', {}, 'Result'),
      job.result === null || job.result === undefined ? h('p', { class: 'muted' }, job.status === 'completed' ? 'No result.' : 'None yet.') : json(job.result)),
    h('section', { class: 'panel' }, h('h2', {}, 'Timeline'),
      h('ol', { class: 'timeline', id: 'timeline' }, events.map((event) => h('li', { class: `event status-${event.to_status}` },
        h('span', { class: 'event-name' }, words(event.event)),
        h('span', { class: 'move' }, event.from_status ? `${event.from_status} → ${event.to_status}` : event.to_status),
        h('span', { class: 'muted' }, `attempt ${event.attempt}`),
        fullTime(event.created_at),
        event.detail ? h('pre', { class: 'detail' }, event.detail) : null)))),
  ];
}

// ---- Job types ---------------------------------------------------------------

async function typeList(view) {
  const answer = await api('GET', '/v1/job-types');
  if (view !== current) return;
  const types = answer.job_types;
  replace(main,
    h('h1', {}, 'Job types'),
    h('p', { class: 'muted' }, 'The built-in types, and the ones your tenant defined (PUT /v1/job-types/NAME or jobs types put).'),
    h('div', { class: 'scroll' }, h('table', {},
      h('caption', { class: 'sr-only' }, 'Job types'),
      h('thead', {}, h('tr', {},
        h('th', { scope: 'col' }, 'Name'), h('th', { scope: 'col' }, 'Kind'), h('th', { scope: 'col' }, 'Runs'),
        h('th', { scope: 'col', class: 'num' }, 'Attempts'), h('th', { scope: 'col', class: 'num' }, 'Timeout'))),
      h('tbody', {}, types.map((t) => h('tr', { class: 'type-row' },
        h('th', { scope: 'row' }, h('a', { href: `#/types/${encodeURIComponent(t.name)}` }, t.name)),
        h('td', {}, t.builtin ? 'built-in' : 'yours'),
        h('td', { class: 'mono' }, handlerText(t)),
        h('td', { class: 'num' }, t.max_attempts ?? '—'),
        h('td', { class: 'num' }, t.timeout_seconds ? `${t.timeout_seconds} s` : '—')))))));
  focusHeading();
}

function handlerText(t) {
  if (t.builtin) return 'the service itself';
  const target = t.handler && t.handler.target;
  if (target && target.url) return target.url;
  return t.handler ? JSON.stringify(t.handler) : '—';
}

async function typePage(name, view) {
  const t = await api('GET', `/v1/job-types/${encodeURIComponent(name)}`);
  if (view !== current) return;
  const rows = [
    ['Kind', t.builtin ? 'built-in' : 'defined by your tenant'],
    ['Runs', handlerText(t)],
    ['Attempts', t.max_attempts ?? 'the default'],
    ['Timeout', t.timeout_seconds ? `${t.timeout_seconds} s` : 'the default'],
    t.created_at ? ['Defined', fullTime(t.created_at)] : null,
    t.updated_at ? ['Changed', fullTime(t.updated_at)] : null,
  ].filter(Boolean);
  replace(main,
    h('p', { class: 'crumbs' }, h('a', { href: '#/types' }, '← Job types')),
    h('h1', {}, `Job type ${t.name}`),
    h('p', {}, h('a', { href: hashWith('#/jobs', { type: t.name }) }, `Jobs of type ${t.name}`), ' · ',
      h('a', { href: hashWith('#/failed', { type: t.name }) }, 'its failed jobs')),
    h('section', { class: 'panel' }, h('h2', {}, 'Details'),
      h('dl', { class: 'facts' }, rows.map(([k, v]) => [h('dt', {}, k), h('dd', {}, v)]))),
    t.builtin ? null : h('section', { class: 'panel' }, h('h2', {}, 'Definition'), json(t)));
  focusHeading();
}

// ---- Schedules ---------------------------------------------------------------

async function scheduleList(view) {
  const answer = await api('GET', '/v1/schedules');
  if (view !== current) return;
  const schedules = answer.schedules;
  replace(main,
    h('h1', {}, 'Schedules'),
    schedules.length
      ? h('div', { class: 'scroll' }, h('table', {},
        h('caption', { class: 'sr-only' }, 'Schedules'),
        h('thead', {}, h('tr', {},
          h('th', { scope: 'col' }, 'Name'), h('th', { scope: 'col' }, 'When'), h('th', { scope: 'col' }, 'Job type'),
          h('th', { scope: 'col' }, 'State'), h('th', { scope: 'col' }, 'Next run'), h('th', { scope: 'col', class: 'wide' }, 'Last run'))),
        h('tbody', {}, schedules.map((sc) => h('tr', { class: 'schedule-row' },
          h('th', { scope: 'row' }, h('a', { href: `#/schedules/${encodeURIComponent(sc.name)}` }, sc.name)),
          h('td', { class: 'mono' }, `${sc.cron} (${sc.timezone})`),
          h('td', {}, sc.job.type),
          h('td', {}, h('span', { class: `badge ${sc.paused ? 'paused' : 'active'}` }, sc.paused ? 'paused' : 'active')),
          h('td', {}, when(sc.next_run_at)),
          h('td', { class: 'wide' }, when(sc.last_run_at)))))))
      : h('p', { class: 'empty' }, 'No schedules yet. Create one with PUT /v1/schedules/NAME or jobs schedules put.'));
  focusHeading();
}

async function schedulePage(name, view) {
  const path = `/v1/schedules/${encodeURIComponent(name)}`;
  const message = h('div', { id: 'schedule-message' });
  const body = h('div');
  const draw = async () => {
    const sc = await api('GET', path);
    if (view !== current) return;
    const toggle = async () => {
      const action = sc.paused ? 'resume' : 'pause';
      const yes = await confirmAction(
        sc.paused ? 'Resume this schedule?' : 'Pause this schedule?',
        sc.paused ? 'It enqueues its next job at its next occurrence from now.' : 'It enqueues no jobs until you resume it.',
        sc.paused ? 'Resume' : 'Pause');
      if (!yes) return;
      try {
        await api('POST', `${path}/${action}`);
        replace(message, notice(sc.paused ? 'Resumed.' : 'Paused.', 'ok'));
      } catch (err) {
        if (err.kind === 'unauthorized') return failed(view, err);
        replace(message, notice(`Not done: ${err.message}`, 'error'));
      }
      await refreshing(view, draw);
    };
    const rows = [
      ['State', h('span', { class: `badge ${sc.paused ? 'paused' : 'active'}`, id: 'schedule-state' }, sc.paused ? 'paused' : 'active')],
      ['Pattern', h('span', { class: 'mono' }, sc.cron)],
      ['Time zone', sc.timezone],
      ['Job type', h('a', { href: `#/types/${encodeURIComponent(sc.job.type)}` }, sc.job.type)],
      ['Attempts', sc.job.max_attempts],
      ['Timeout', `${sc.job.timeout_seconds} s`],
      ['Next run', fullTime(sc.next_run_at)],
      ['Last run', fullTime(sc.last_run_at)],
      ['Last job', sc.last_job_id ? h('a', { href: `#/jobs/${sc.last_job_id}`, class: 'mono' }, sc.last_job_id) : h('span', { class: 'muted' }, '—')],
      ['Created', fullTime(sc.created_at)],
      ['Changed', fullTime(sc.updated_at)],
    ];
    replace(body,
      h('div', { class: 'actions' },
        h('button', { type: 'button', id: 'toggle-schedule', class: sc.paused ? 'primary' : 'danger', 'data-k': 'toggle', onclick: toggle },
          sc.paused ? 'Resume…' : 'Pause…'),
        h('a', { href: hashWith('#/jobs', { schedule: sc.name }) }, 'Jobs it enqueued')),
      h('section', { class: 'panel' }, h('h2', {}, 'Details'),
        h('dl', { class: 'facts' }, rows.map(([k, v]) => [h('dt', {}, k), h('dd', {}, v)]))),
      h('section', { class: 'panel' }, h('h2', {}, 'Payload of its jobs'), json(sc.job.payload)));
  };
  try {
    await draw();
  } catch (err) {
    if (err.kind === 'problem' && err.status === 404) {
      replace(main, h('h1', {}, 'No such schedule'), h('p', {}, `You have no schedule named “${name}”. `, h('a', { href: '#/schedules' }, 'Back to the schedules.')));
      focusHeading();
      return;
    }
    throw err;
  }
  if (view !== current) return;
  replace(main, h('p', { class: 'crumbs' }, h('a', { href: '#/schedules' }, '← Schedules')), h('h1', {}, `Schedule ${name}`), message, body);
  focusHeading();
}

window.addEventListener('hashchange', render);
render();
