// The web triage page (trapdoor serve --web): plain DOM, no framework. Everything
// it shows comes from the server as text (textContent only, never HTML); the rows
// and the pending trap's record are rendered by the server's trap renderer.
'use strict';

const $ = (id) => document.getElementById(id);
const MAX_ROWS = 5000;
const MAX_CONSOLE = 65536;

const state = { session: undefined, role: 'observer', arch: 'aarch64', forward: false, pending: undefined, events: undefined };

function show(section) {
  $('login').hidden = section !== 'login';
  $('app').hidden = section !== 'app';
}
function status(text) { $('status').textContent = text; }
function notice(text) { $('notice').textContent = text; }

async function api(method, url, body) {
  const res = await fetch(url, {
    method, credentials: 'same-origin',
    headers: body ? { 'Content-Type': 'application/json' } : {},
    body: body ? JSON.stringify(body) : undefined,
  });
  let data = {};
  try { data = await res.json(); } catch { /* no body */ }
  return { ok: res.ok, status: res.status, data };
}

// ---------------------------------------------------------------- login
async function start() {
  const me = await api('GET', '/api/me');
  if (me.status === 401) { status('not logged in'); show('login'); $('token').focus(); return; }
  if (!me.ok) { status(me.data.error || `error ${me.status}`); return; }
  enter(me.data);
}

function enter(me) {
  $('who').textContent = `${me.name} · ${me.role}`;
  $('logout').hidden = !me.user;
  state.role = me.role;
  show('app');
  const wanted = new URLSearchParams(location.search).get('session');
  const sessions = me.sessions || [];
  const nav = $('sessions');
  nav.replaceChildren();
  if (!sessions.length) { status('no session is served yet'); setTimeout(start, 3000); return; }
  state.session = sessions.some((s) => s.id === wanted) ? wanted : sessions[0].id;
  if (sessions.length > 1) {
    for (const s of sessions) {
      const a = document.createElement('a');
      a.href = `?session=${encodeURIComponent(s.id)}`;
      a.textContent = `session ${s.id}: ${s.image}`;
      if (s.id === state.session) a.className = 'current';
      nav.append(a);
    }
  }
  follow();
}

$('login-form').addEventListener('submit', async (ev) => {
  ev.preventDefault();
  $('login-error').textContent = '';
  const r = await api('POST', '/api/login', { token: $('token').value, role: $('as-observer').checked ? 'observer' : undefined });
  $('token').value = '';
  if (!r.ok) { $('login-error').textContent = r.data.error || `refused (${r.status})`; return; }
  enter(r.data);
});

$('logout').addEventListener('click', async () => {
  if (state.events) state.events.close();
  await api('POST', '/api/logout', {});
  location.reload();
});

// ---------------------------------------------------------------- live events
function follow() {
  if (state.events) state.events.close();
  const es = new EventSource(`/api/events?session=${encodeURIComponent(state.session)}`);
  state.events = es;
  const on = (name, fn) => es.addEventListener(name, (e) => fn(JSON.parse(e.data), e));
  es.addEventListener('open', () => status('live'));
  es.addEventListener('error', () => {
    if (es.readyState === EventSource.CLOSED) { status('disconnected'); setTimeout(start, 2000); } else status('reconnecting…');
  });
  on('hello', (h) => {
    state.arch = h.arch;
    state.forward = h.forward;
    $('session-name').textContent = `session ${h.session.id}: ${h.session.image}`;
    $('who').textContent = `${h.you.name} · ${h.you.role}`;
    state.role = h.you.role;
    if (h.policy) renderPolicy(h.policy);
    $('console').textContent = h.output;
    setPending(h.pending);
    if (h.ended) status(`run ended: ${h.ended.message}`);
  });
  on('trap', (cells) => upsertRow(cells));
  on('pending', (p) => setPending(p));
  on('decided', (d) => {
    if (state.pending && state.pending.record.seq === d.seq) setPending(null);
    notice(`trap #${d.seq} decided by ${d.by}`);
  });
  on('policy', (p) => renderPolicy(p));
  on('output', (o) => appendConsole(o.text));
  on('missed', (m) => notice(m.message));
  on('lagged', (m) => notice(m.message));
  on('ended', (e) => { setPending(null); status(`run ended: ${e.message}`); });
  on('stopped', (s) => notice(`the guest stopped (${s.reason}) at ${s.pc}: a debugger has it`));
  on('closed', () => { setPending(null); status('the session was closed'); es.close(); });
}

// ---------------------------------------------------------------- the table
function cell(tr, cls, text) {
  const td = document.createElement('td');
  td.className = cls;
  td.textContent = text;
  tr.append(td);
}

function upsertRow(c) {
  const body = $('traps').tBodies[0];
  const tr = document.createElement('tr');
  tr.dataset.seq = String(c.seq);
  if (!/^(rule |default|policy|fallback)/.test(c.by)) tr.className = 'user';
  cell(tr, 'seq', String(c.seq));
  cell(tr, 'site', c.site);
  cell(tr, 'call', c.call);
  cell(tr, 'owner', c.owner);
  cell(tr, 'args', c.args);
  cell(tr, 'decision', c.decision);
  cell(tr, 'result', c.result);
  cell(tr, 'by', c.by);
  tr.title = c.summary;
  const had = body.querySelector(`tr[data-seq="${c.seq}"]`);
  if (had) { had.replaceWith(tr); return; }
  body.append(tr);
  while (body.rows.length > MAX_ROWS) body.rows[0].remove();
}

function appendConsole(text) {
  const pre = $('console');
  const end = pre.scrollTop + pre.clientHeight >= pre.scrollHeight - 4;
  pre.textContent = (pre.textContent + text).slice(-MAX_CONSOLE);
  if (end) pre.scrollTop = pre.scrollHeight;
}

// ---------------------------------------------------------------- the pending trap
function setPending(p) {
  state.pending = p || undefined;
  $('pending').hidden = !p;
  $('pending-none').hidden = !!p;
  $('decide-error').textContent = '';
  if (!p) return;
  $('pending-record').textContent = p.lines.join('\n');
  const decider = state.role === 'decider';
  $('decide').hidden = !decider;
  $('observer-note').hidden = decider;
  $('forward-button').hidden = !state.forward;
  const reg = p.record.arch === 'aarch64' ? 'x' : 'r';
  const regs = $('return-regs');
  regs.replaceChildren();
  for (let i = 0; i < 4; i++) {
    const label = document.createElement('label');
    const input = document.createElement('input');
    input.name = `${reg}${i}`;
    input.id = `ret-${reg}${i}`;
    input.placeholder = i === 0 ? '0x0' : 'unchanged';
    if (i === 0) input.value = '0x0';
    label.append(`${reg}${i}=`, input);
    regs.append(label);
  }
}

async function decide(action, values) {
  if (!state.pending) return;
  $('decide-error').textContent = '';
  const seq = state.pending.record.seq;
  const r = await api('POST', '/api/decide', { session: state.session, seq, action, values });
  if (!r.ok) { $('decide-error').textContent = r.data.error || `refused (${r.status})`; return; }
  upsertRow(r.data.cells);
  if (state.pending && state.pending.record.seq === seq) setPending(null);
  notice(`trap #${seq}: ${r.data.cells.decision}${r.data.cells.result ? ` -> ${r.data.cells.result}` : ''}`);
}

for (const b of document.querySelectorAll('#decide button[data-action]')) {
  b.addEventListener('click', () => decide(b.dataset.action));
}
$('return-form').addEventListener('submit', (ev) => {
  ev.preventDefault();
  const values = {};
  for (const input of $('return-regs').querySelectorAll('input')) if (input.value.trim()) values[input.name] = input.value.trim();
  if (!Object.keys(values).length) { $('decide-error').textContent = 'give at least one register value'; return; }
  decide('return', values);
});

// ---------------------------------------------------------------- the policy
function renderPolicy(p) {
  const ul = $('rules');
  ul.replaceChildren();
  for (const r of p.rules) {
    const li = document.createElement('li');
    li.className = 'mono';
    li.textContent = r.text;
    if (state.role === 'decider') {
      const b = document.createElement('button');
      b.type = 'button';
      b.textContent = 'remove';
      b.addEventListener('click', () => changePolicy({ op: 'remove', id: r.id }));
      li.append(b);
    }
    ul.append(li);
  }
  if (!p.rules.length) { const li = document.createElement('li'); li.textContent = 'no rules'; ul.append(li); }
  $('policy-default').textContent = `default: ${p.default} (policy version ${p.version})`;
  $('rule-form').hidden = state.role !== 'decider';
}

async function changePolicy(body) {
  $('policy-error').textContent = '';
  const r = await api('POST', '/api/policy', { session: state.session, ...body });
  if (!r.ok) { $('policy-error').textContent = r.data.error || `refused (${r.status})`; return; }
  renderPolicy(r.data);
}

$('rule-form').addEventListener('submit', (ev) => {
  ev.preventDefault();
  const rule = $('rule').value.trim();
  if (!rule) return;
  changePolicy({ op: 'add', rule }).then(() => { if (!$('policy-error').textContent) $('rule').value = ''; });
});

start();
