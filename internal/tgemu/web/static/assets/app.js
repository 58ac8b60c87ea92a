// The emulator's page: everything goes through the control API (/v1/...).
'use strict';

const $ = (id) => document.getElementById(id);
const state = {
  users: [], bots: [], groups: [],
  userId: 0,          // the user the page writes as
  chat: null,         // {kind: 'user'|'group', id}
  botId: 0,
  pressed: new Map(), // "user:msg" -> button text, awaiting the bot's answer
  flash: new Set(),   // IDs of messages just edited, highlighted when next drawn
};

async function api(method, path, body) {
  const init = { method, headers: {} };
  if (body !== undefined) {
    init.headers['Content-Type'] = 'application/json';
    init.body = JSON.stringify(body);
  }
  const resp = await fetch(path, init);
  const data = await resp.json().catch(() => ({}));
  if (!resp.ok) {
    const e = data.error;
    throw new Error(typeof e === 'string' ? e : (e && e.message) || resp.statusText);
  }
  return data;
}

let toastTimer = 0;
function toast(text, alert) {
  const t = $('toast');
  t.textContent = text;
  t.className = alert ? 'alert' : '';
  t.setAttribute('role', alert ? 'alert' : 'status');
  t.hidden = false;
  clearTimeout(toastTimer);
  toastTimer = setTimeout(() => { t.hidden = true; }, alert ? 8000 : 4000);
}

function fail(err) { toast(String(err.message || err), true); }

function el(tag, attrs, ...children) {
  const e = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (k === 'onclick') e.addEventListener('click', v);
    else if (v !== undefined && v !== null && v !== false) e.setAttribute(k, v === true ? '' : v);
  }
  for (const c of children) if (c !== null && c !== undefined) e.append(c);
  return e;
}

// --- accounts -------------------------------------------------------------

function nameOf(id) {
  const a = state.users.find((u) => u.id === id) || state.bots.find((u) => u.id === id);
  return a ? (a.first_name || a.username || String(id)) : String(id);
}

async function loadAccounts() {
  const [{ users }, { groups }] = await Promise.all([api('GET', '/v1/users'), api('GET', '/v1/groups')]);
  state.users = users.filter((u) => !u.bot);
  state.bots = users.filter((u) => u.bot);
  state.groups = groups;
  if (!state.bots.some((b) => b.id === state.botId)) state.botId = state.bots.length ? state.bots[0].id : 0;
  renderAccounts();
}

function renderAccounts() {
  const bot = $('bot');
  bot.replaceChildren(...state.bots.map((b) => el('option', { value: b.id, selected: b.id === state.botId }, `${b.first_name} (@${b.username})`)));
  if (!state.bots.length) bot.append(el('option', { value: 0 }, 'no bot has logged in yet'));
  const item = (label, current, onclick) => el('li', {}, el('button', { type: 'button', 'aria-current': current ? 'true' : 'false', onclick }, label));
  $('users').replaceChildren(...state.users.map((u) => item(
    `${u.first_name}${u.username ? ' @' + u.username : ''} (${u.id})`,
    u.id === state.userId && state.chat && state.chat.kind === 'user',
    () => select({ kind: 'user', id: u.id }, u.id))));
  $('groups').replaceChildren(...state.groups.map((g) => item(
    `${g.title} (${g.members.length} members)`,
    state.chat && state.chat.kind === 'group' && state.chat.id === g.id,
    () => select({ kind: 'group', id: g.id }))));
}

function select(chat, userId) {
  if (userId) state.userId = userId;
  if (chat.kind === 'group') {
    const g = state.groups.find((x) => x.id === chat.id);
    if (g && !g.members.includes(state.userId)) {
      const member = g.members.find((id) => state.users.some((u) => u.id === id));
      state.userId = member || 0;
    }
  }
  state.chat = chat;
  showChatAction('');
  const who = state.userId ? nameOf(state.userId) : 'nobody';
  $('chat-title').textContent = chat.kind === 'user'
    ? `${nameOf(chat.id)} ↔ ${nameOf(state.botId)}`
    : `${(state.groups.find((g) => g.id === chat.id) || {}).title} — writing as ${who}`;
  $('text').disabled = !state.userId;
  $('send').disabled = !state.userId;
  $('send-album').disabled = chat.kind !== 'user'; // the control API sends albums in private chats
  renderAccounts();
  loadChat().catch(fail);
  $('text').focus();
}

// --- the chat -------------------------------------------------------------

function chatPath() {
  const q = state.botId ? `?bot_id=${state.botId}` : '';
  return state.chat.kind === 'user' ? `/v1/users/${state.chat.id}/messages${q}` : `/v1/groups/${state.chat.id}/messages${q}`;
}

let loading = null;
let again = false;
async function loadChat() {
  if (!state.chat) return;
  if (loading) { again = true; return loading; }
  loading = (async () => {
    do {
      again = false;
      const chat = state.chat;
      const { messages } = await api('GET', chatPath());
      if (chat === state.chat) renderMessages(messages);
    } while (again);
  })().finally(() => { loading = null; });
  return loading;
}

const safeURL = (u) => /^(https?|tg):/i.test(u || '') ? u : null;

// renderText turns text + entities (offsets in UTF-16 code units, as JS
// strings count) into nodes; nested entities nest, overlapping ones clip.
function renderText(text, entities) {
  const ents = (entities || []).slice().sort((a, b) => a.offset - b.offset || b.length - a.length);
  function build(from, to, list) {
    const out = [];
    let pos = from;
    for (let i = 0; i < list.length; i++) {
      const e = list[i];
      if (e.offset < pos) continue;
      const end = Math.min(e.offset + e.length, to);
      if (e.offset >= to) break;
      if (e.offset > pos) out.push(document.createTextNode(text.slice(pos, e.offset)));
      const inner = [];
      while (i + 1 < list.length && list[i + 1].offset < end) inner.push(list[++i]);
      out.push(wrap(e, build(e.offset, end, inner), text.slice(e.offset, end)));
      pos = end;
    }
    if (pos < to) out.push(document.createTextNode(text.slice(pos, to)));
    return out;
  }
  return build(0, text.length, ents);
}

function wrap(e, kids, raw) {
  const tags = { bold: 'strong', italic: 'em', underline: 'u', strikethrough: 's', code: 'code', blockquote: 'blockquote' };
  switch (e.type) {
    case 'pre': return el('pre', {}, el('code', { 'data-language': e.language }, ...kids));
    case 'text_link': return el('a', { href: safeURL(e.url), target: '_blank', rel: 'noopener' }, ...kids);
    case 'url': return el('a', { href: safeURL(/^[a-z]+:/i.test(raw) ? raw : 'https://' + raw), target: '_blank', rel: 'noopener' }, ...kids);
    case 'spoiler': return el('span', { class: 'spoiler', tabindex: 0 }, ...kids);
    default:
      return tags[e.type] ? el(tags[e.type], {}, ...kids) : el('span', { class: 'entity-' + e.type }, ...kids);
  }
}

function isMine(m) {
  return state.chat.kind === 'user' ? !m.out : m.from_id === state.userId;
}

// renderMessages draws the chat: consecutive messages of one album
// (grouped_id) share a bubble; the latest pinned message heads the chat.
function renderMessages(messages) {
  const box = $('messages');
  const atBottom = box.scrollHeight - box.scrollTop - box.clientHeight < 40;
  const nodes = [];
  let lastKeyboard = null;
  for (let i = 0; i < messages.length; i++) {
    const m = messages[i];
    if (m.grouped_id) {
      const items = [m];
      while (i + 1 < messages.length && messages[i + 1].grouped_id === m.grouped_id) items.push(messages[++i]);
      nodes.push(renderAlbum(items));
      continue;
    }
    nodes.push(renderMessage(m));
    if (m.out && m.reply_markup) lastKeyboard = m.reply_markup;
  }
  box.replaceChildren(...nodes);
  for (const id of state.flash) {
    const n = box.querySelector(`[data-id="${id}"]`);
    if (n) n.classList.add('changed');
  }
  state.flash.clear();
  renderPinned(messages.filter((m) => m.pinned));
  renderReplyKeyboard(lastKeyboard);
  if (atBottom || box.dataset.chat !== JSON.stringify(state.chat)) box.scrollTop = box.scrollHeight;
  box.dataset.chat = JSON.stringify(state.chat);
}

function bubble(m, extra) {
  const mine = isMine(m);
  const node = el('div', { class: 'msg' + (mine ? ' mine' : '') + (m.pinned ? ' pinned' : '') + (extra || ''), 'data-id': m.id, 'data-from': m.from_id });
  if (state.chat.kind === 'group' && !mine) node.append(el('div', { class: 'from' }, nameOf(m.from_id)));
  return node;
}

function meta(m) {
  const time = new Date(m.date * 1000).toLocaleTimeString();
  return el('div', { class: 'meta' }, m.pinned ? el('span', { class: 'pin-icon', 'aria-hidden': 'true' }) : null,
    (m.pinned ? 'pinned · ' : '') + (m.edit_date ? 'edited ' : '') + time);
}

function renderMessage(m) {
  const node = bubble(m);
  if (m.photo) node.append(photo(m.photo, m.text));
  if (m.document) node.append(documentLink(m.document));
  if (m.text) node.append(el('div', { class: 'text' }, ...renderText(m.text, m.entities)));
  const kb = m.reply_markup && m.reply_markup.inline_keyboard;
  if (kb && kb.length) node.append(inlineKeyboard(m, kb));
  node.append(meta(m));
  return node;
}

// renderAlbum draws an album as one bubble: the photos (or documents) side
// by side, each with its caption under the grid, as Telegram's apps do.
function renderAlbum(items) {
  const first = items[0];
  const node = bubble(first, ' album');
  node.dataset.group = first.grouped_id;
  node.setAttribute('role', 'group');
  node.setAttribute('aria-label', `Album of ${items.length}`);
  const grid = el('div', { class: 'album-items' });
  for (const m of items) {
    const item = el('figure', { 'data-id': m.id, class: m.pinned ? 'pinned' : null });
    if (m.photo) item.append(photo(m.photo, m.text));
    if (m.document) item.append(documentLink(m.document));
    if (m.text) item.append(el('figcaption', {}, ...renderText(m.text, m.entities)));
    grid.append(item);
  }
  node.append(grid, meta(items[items.length - 1]));
  return node;
}

function photo(p, caption) {
  return el('a', { class: 'photo', href: `/v1/documents/${p.id}`, target: '_blank', rel: 'noopener', 'aria-label': `Photo ${p.width}×${p.height}, open` },
    el('img', { src: `/v1/documents/${p.id}`, width: p.width, height: p.height, alt: caption || `photo ${p.width}×${p.height}` }));
}

function documentLink(d) {
  return el('a', { class: 'doc', href: `/v1/documents/${d.id}`, download: d.name, 'aria-label': `Download ${d.name}` },
    `${d.name} (${formatSize(d.size)}, ${d.mime_type})`);
}

// renderPinned shows the latest pinned message above the chat; pressing it
// scrolls to the message.
function renderPinned(pinned) {
  const bar = $('pinned');
  const last = pinned[pinned.length - 1];
  if (!last) { bar.hidden = true; bar.replaceChildren(); return; }
  const what = last.text || (last.photo ? 'Photo' : last.document ? last.document.name : 'Message');
  const label = pinned.length > 1 ? `Pinned message ${pinned.length} of ${pinned.length}` : 'Pinned message';
  bar.replaceChildren(el('button', { type: 'button', 'data-id': last.id, onclick: () => {
    const n = $('messages').querySelector(`[data-id="${last.id}"]`);
    if (n) { n.scrollIntoView({ block: 'center' }); n.classList.remove('changed'); void n.offsetWidth; n.classList.add('changed'); }
  } }, el('span', { class: 'pin-icon', 'aria-hidden': 'true' }), el('strong', {}, label), el('span', { class: 'pinned-text' }, what)));
  bar.hidden = false;
}

// Chat actions, as Telegram's apps word them. An action shows until the
// bot's next message, a "cancel", or 5 seconds (what Telegram gives it).
const actionWords = {
  typing: 'typing…', upload_photo: 'sending a photo…', upload_document: 'sending a file…',
  record_video: 'recording a video…', upload_video: 'sending a video…', record_voice: 'recording a voice message…',
  upload_voice: 'sending a voice message…', choose_sticker: 'choosing a sticker…', find_location: 'choosing a location…',
  record_video_note: 'recording a video message…', upload_video_note: 'sending a video message…',
};
const actionTTL = 5000;
let actionTimer = 0;
function showChatAction(action) {
  const box = $('chat-action');
  const msgs = $('messages');
  const atBottom = msgs.scrollHeight - msgs.scrollTop - msgs.clientHeight < 40;
  clearTimeout(actionTimer);
  if (!action || action === 'cancel') {
    box.textContent = '';
    box.hidden = true;
  } else {
    box.textContent = `${nameOf(state.botId)} is ${actionWords[action] || action.replace(/_/g, ' ') + '…'}`;
    box.dataset.action = action;
    box.hidden = false;
    actionTimer = setTimeout(() => showChatAction(''), actionTTL);
  }
  if (atBottom) msgs.scrollTop = msgs.scrollHeight; // the line takes room from the chat: keep its end in view
}

function formatSize(n) {
  if (n < 1024) return `${n} B`;
  if (n < 1024 * 1024) return `${(n / 1024).toFixed(1)} KiB`;
  return `${(n / 1024 / 1024).toFixed(1)} MiB`;
}

function inlineKeyboard(m, rows) {
  return el('div', { class: 'keyboard', role: 'group', 'aria-label': 'Inline buttons' }, ...rows.map((row) => el('div', { class: 'row' },
    ...row.map((b) => b.url
      ? el('a', { href: safeURL(b.url), target: '_blank', rel: 'noopener' }, b.text)
      : el('button', { type: 'button', onclick: () => press(m, b) }, b.text)))));
}

async function press(m, b) {
  if (state.chat.kind !== 'user') { toast('Inline buttons can be pressed in private chats only', true); return; }
  const key = `${state.chat.id}:${m.id}`;
  state.pressed.set(key, b.text);
  try {
    await api('POST', `/v1/users/${state.chat.id}/callbacks`, { message_id: m.id, data: b.callback_data, bot_id: state.botId });
    // The answer may have come in already (it races this response).
    if (state.pressed.has(key)) toast(`Pressed “${b.text}”, waiting for the bot…`);
  } catch (err) {
    state.pressed.delete(key);
    fail(err);
  }
}

function renderReplyKeyboard(markup) {
  const box = $('reply-keyboard');
  const rows = markup && markup.keyboard;
  if (!rows || state.chat.kind !== 'user') { box.replaceChildren(); return; }
  box.replaceChildren(...rows.map((row) => el('div', { class: 'row' },
    ...row.map((b) => el('button', { type: 'button', onclick: () => send(b.text) }, b.text)))));
}

async function send(text) {
  if (!text.trim() || !state.chat || !state.userId) return;
  if (state.chat.kind === 'user') {
    await api('POST', `/v1/users/${state.chat.id}/messages`, { text, bot_id: state.botId });
  } else {
    await api('POST', `/v1/groups/${state.chat.id}/messages`, { text, user_id: state.userId });
  }
  await loadChat();
}

// --- live updates -----------------------------------------------------------

function concerns(e) {
  if (!state.chat || (state.botId && e.bot_id && e.bot_id !== state.botId)) return false;
  return state.chat.kind === 'user' ? e.user_id === state.chat.id : e.chat_id === state.chat.id;
}

function connect() {
  const es = new EventSource('/v1/events');
  es.addEventListener('open', () => {
    $('live').textContent = 'live';
    loadAccounts().then(() => loadChat()).catch(fail);
  });
  es.addEventListener('error', () => { $('live').textContent = 'reconnecting…'; });
  es.addEventListener('message', (ev) => {
    const e = JSON.parse(ev.data);
    if (e.user_id && !state.users.some((u) => u.id === e.user_id)) loadAccounts().catch(fail);
    if (!concerns(e)) return;
    if (e.from_id && e.from_id === e.bot_id) showChatAction(''); // the bot's message ends its "typing…"
    loadChat().catch(fail);
  });
  // Edits, deletions and pins redraw the chat; an edited message flashes.
  es.addEventListener('edit', (ev) => {
    const e = JSON.parse(ev.data);
    if (!concerns(e)) return;
    state.flash.add(e.msg_id);
    loadChat().catch(fail);
  });
  for (const type of ['delete', 'pin']) {
    es.addEventListener(type, (ev) => { if (concerns(JSON.parse(ev.data))) loadChat().catch(fail); });
  }
  es.addEventListener('chat_action', (ev) => {
    const e = JSON.parse(ev.data);
    if (concerns(e)) showChatAction(e.action);
  });
  es.addEventListener('accounts', () => loadAccounts().catch(fail));
  es.addEventListener('callback_answer', (ev) => {
    const e = JSON.parse(ev.data);
    const key = `${e.user_id}:${e.msg_id}`;
    if (!state.pressed.has(key)) return;
    const label = state.pressed.get(key);
    state.pressed.delete(key);
    if (e.url) toast(`The bot answered “${label}” with a link: ${e.url}`, e.alert);
    else toast(e.message ? `Bot: ${e.message}` : `The bot answered “${label}”`, e.alert);
  });
}

// --- the panel --------------------------------------------------------------

async function loadStats() {
  const s = await api('GET', '/v1/stats');
  const rows = Object.entries(s.rpc).sort((a, b) => b[1] - a[1]).map(([k, v]) => el('tr', {}, el('td', {}, k), el('td', {}, String(v))));
  $('stats').replaceChildren(
    el('p', {}, `connections: ${s.connections}, flood waits: ${s.flood_waits}`),
    el('table', { 'aria-label': 'RPC calls per method' }, el('tbody', {}, ...rows)));
}

function wire() {
  $('bot').addEventListener('change', () => {
    state.botId = Number($('bot').value);
    if (state.chat) select(state.chat);
  });
  $('new-user').addEventListener('submit', async (ev) => {
    ev.preventDefault();
    try {
      const u = await api('POST', '/v1/users', { first_name: $('new-user-name').value, username: $('new-user-username').value });
      $('new-user').reset();
      await loadAccounts();
      select({ kind: 'user', id: u.id }, u.id);
      toast(`Created ${u.first_name} (${u.id})`);
    } catch (err) { fail(err); }
  });
  $('new-group').addEventListener('submit', async (ev) => {
    ev.preventDefault();
    const raw = $('new-group-members').value.split(',').map((s) => s.trim()).filter(Boolean);
    const ids = raw.length ? raw.map(Number) : (state.userId ? [state.userId] : []);
    if (state.botId && !ids.includes(state.botId)) ids.push(state.botId);
    try {
      const g = await api('POST', '/v1/groups', { title: $('new-group-title').value, member_ids: ids });
      $('new-group').reset();
      await loadAccounts();
      select({ kind: 'group', id: g.id });
    } catch (err) { fail(err); }
  });
  $('composer').addEventListener('submit', async (ev) => {
    ev.preventDefault();
    const text = $('text').value;
    try {
      await send(text);
      $('text').value = '';
    } catch (err) { fail(err); }
  });
  $('album').addEventListener('submit', async (ev) => {
    ev.preventDefault();
    if (!state.chat || state.chat.kind !== 'user') return;
    try {
      await api('POST', `/v1/users/${state.chat.id}/albums`, { count: Number($('album-count').value), caption: $('text').value, bot_id: state.botId });
      $('text').value = '';
      await loadChat();
    } catch (err) { fail(err); }
  });
  $('text').addEventListener('keydown', (ev) => {
    if (ev.key === 'Enter' && !ev.shiftKey && !ev.isComposing) {
      ev.preventDefault();
      $('composer').requestSubmit();
    }
  });
  $('limits').addEventListener('submit', async (ev) => {
    ev.preventDefault();
    try {
      const l = await api('PUT', '/v1/limits', {
        global_per_second: Number($('limit-global').value), per_chat_per_second: Number($('limit-chat').value),
        group_per_minute: Number($('limit-group').value),
      });
      toast(`Limits: ${l.global_per_second}/s per bot, ${l.per_chat_per_second}/s per chat, ${l.group_per_minute}/min per group`);
    } catch (err) { fail(err); }
  });
  $('faults').addEventListener('submit', async (ev) => {
    ev.preventDefault();
    try {
      const f = await api('POST', '/v1/faults', { method: $('fault-method').value, error: $('fault-error').value, count: Number($('fault-count').value) });
      toast(`The next ${f.count} ${f.method} call(s) fail with ${f.error}`);
    } catch (err) { fail(err); }
  });
  $('disconnect').addEventListener('click', async () => {
    try {
      await api('POST', '/v1/disconnect');
      toast('Dropped every MTProto connection; the clients reconnect');
      await loadStats();
    } catch (err) { fail(err); }
  });
  $('refresh-stats').addEventListener('click', () => loadStats().catch(fail));
}

wire();
connect();
loadStats().catch(fail);
setInterval(() => { if (!document.hidden) loadStats().catch(() => {}); }, 3000);
