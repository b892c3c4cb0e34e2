// The officers' phone page (/m/): sign in, today's shifts, 到岗/在岗/离岗 check-ins that survive a dead network,
// incident reports and arrivals, and alarms near the officer's posts from the live feed.
//
// Offline first: every check-in is written to IndexedDB (the queue) before it is sent, with its own UUID and the
// officer it belongs to; it is sent at once when there is network, else replayed with POST /v1/checkins/batch
// when the network returns — the same UUIDs, so the server never stores one twice. Items are only ever sent
// under their own officer's login. The refresh token is kept in IndexedDB, so a reload without network keeps
// the login; signing out deletes the token and that officer's queue (after a warning when something is unsent).

import { openDB } from './vendor/idb/index.js';
import { fetchEventSource } from '/map/static/vendor/fetch-event-source/index.js';
import { toBasemap } from '/map/static/gcj02.js';
import { CATEGORIES, category, getLang, setLang, t, translatePage } from './i18n.js';

const config = JSON.parse(document.getElementById('phone-config').textContent);
const toMap = toBasemap(config.tile_datum);
const BATCH_MAX = 500;
const RETRY_EVERY_MS = 20_000;
const CLOCK_EVERY_MS = 10 * 60_000;
const SKEW_SHOWN_S = 5;
const KEEP_RECORDS_MS = 2 * 24 * 3600_000;
const EARLY_MS = 15 * 60_000; // a shift is "current" from 15 min before it starts to 15 min after it ends
const JUDGEMENT = 'id,status,kind,recorded_at,received_at,geofence,in_post_geofence,distance_to_post_m,'
  + 'in_school_zone,in_duty_window,flags';
const $ = (id) => document.getElementById(id);

// What tests can read.
const hx = window.huxiaoPhone = {
  version: config.version, ready: false, live: false, online: navigator.onLine, user: null,
  shifts: [], records: [], alarms: [], clockOffsetMs: 0, sent: 0, errors: [],
};

// --- storage ------------------------------------------------------------------------------------------------

const dbPromise = openDB('huxiao-m', 1, {
  upgrade(db) {
    db.createObjectStore('kv');
    const queue = db.createObjectStore('queue', { keyPath: 'id' });
    queue.createIndex('officer', 'officer_id');
  },
});
const kv = {
  get: async (key) => (await dbPromise).get('kv', key),
  set: async (key, value) => (await dbPromise).put('kv', value, key),
  del: async (key) => (await dbPromise).delete('kv', key),
};

let session = null; // { user, access_token, access_expires_at, refresh_token }

async function saveSession() { if (session) await kv.set('session', session); }

async function officerRecords(officerId) {
  return (await dbPromise).getAllFromIndex('queue', 'officer', officerId);
}

async function putRecord(record) { await (await dbPromise).put('queue', record); }

// --- network and credentials --------------------------------------------------------------------------------

class ApiError extends Error {
  constructor(status, detail, body) { super(detail || `HTTP ${status}`); this.status = status; this.body = body; }
}
class Offline extends Error {}

function setOnline(on) {
  hx.online = on;
  $('net').textContent = t(on ? 'online' : 'offline');
  $('net').classList.toggle('off', !on);
}

async function send(path, options = {}) {
  try {
    return await fetch(path, { cache: 'no-store', ...options });
  } catch (err) {
    setOnline(false);
    throw new Offline(String(err));
  }
}

function keepTokens(answer) {
  session.access_token = answer.access_token;
  session.access_expires_at = Date.now() + answer.expires_in * 1000;
  session.refresh_token = answer.refresh_token;
}

let refreshing = null;
async function refresh() {
  // One refresh at a time: a refresh token is good once, a second use revokes the whole login.
  refreshing ??= (async () => {
    try {
      const res = await send('/v1/auth/refresh', {
        method: 'POST', headers: { 'Content-Type': 'application/json' },
        body: JSON.stringify({ refresh_token: session.refresh_token }),
      });
      if (res.status === 401) { await sessionExpired(); return false; }
      if (!res.ok) return false;
      keepTokens(await res.json());
      await saveSession();
      return true;
    } finally { refreshing = null; }
  })();
  return refreshing;
}

async function token() {
  if (!session) throw new ApiError(401, 'signed out');
  if (!session.access_token || session.access_expires_at < Date.now() + 30_000) {
    if (!(await refresh())) throw new ApiError(401, t('session_expired'));
  }
  return session.access_token;
}

async function api(path, { method = 'GET', body, headers = {}, retried = false } = {}) {
  const auth = { Authorization: `Bearer ${await token()}`, ...headers };
  if (body !== undefined) auth['Content-Type'] = 'application/json';
  const res = await send(path, { method, headers: auth, body: body === undefined ? undefined : JSON.stringify(body) });
  setOnline(true);
  if (res.status === 401 && !retried) {
    session.access_token = null;
    return api(path, { method, body, headers, retried: true });
  }
  if (res.status === 304) return { status: 304, body: null, res };
  let data = null;
  if (res.status !== 204) { try { data = await res.json(); } catch { data = null; } }
  if (!res.ok) throw new ApiError(res.status, data?.detail || data?.title, data);
  return { status: res.status, body: data, res };
}

async function measureClock() {
  try {
    const t0 = Date.now();
    const res = await send('/v1/time');
    const t1 = Date.now();
    const { epoch_ms: server } = await res.json();
    hx.clockOffsetMs = Math.round(server - (t0 + t1) / 2);
    setOnline(true);
    const off = Math.round(hx.clockOffsetMs / 1000);
    notice(Math.abs(off) >= SKEW_SHOWN_S ? t('skew', off) : '');
  } catch { /* offline: keep the last offset */ }
}

const serverNow = (deviceMs = Date.now()) => new Date(deviceMs + hx.clockOffsetMs);

function notice(text) { $('notice').textContent = text; }

// --- geolocation ---------------------------------------------------------------------------------------------

function locate() {
  return new Promise((resolve, reject) => {
    if (!navigator.geolocation) { reject(new Error('geolocation unavailable')); return; }
    navigator.geolocation.getCurrentPosition(resolve, (err) => {
      reject(new Error(err.code === 1 ? t('geo_denied') : err.message));
    }, { enableHighAccuracy: true, timeout: 20_000, maximumAge: 0 }); // a proof of presence wants a fresh fix
  });
}

function pointOf(pos) {
  // Browsers give WGS-84; an accuracy of 0 or none means "unknown", sent as very coarse so it is judged so.
  const acc = pos.coords.accuracy > 0 ? pos.coords.accuracy : 10_000;
  return { location: { type: 'Point', coordinates: [pos.coords.longitude, pos.coords.latitude] }, crs: 'wgs84',
           accuracy_m: Math.min(acc, 100_000) };
}

// --- shifts --------------------------------------------------------------------------------------------------

let selectedShiftId = null;
let pinMap = null;
let pinLayer = null;

function timeIn(iso, zone) {
  return new Intl.DateTimeFormat('zh-CN', { timeZone: zone, hour: '2-digit', minute: '2-digit', hourCycle: 'h23' })
    .format(new Date(iso));
}

function shiftState(shift, now = serverNow().getTime()) {
  const start = Date.parse(shift.starts_at);
  const end = Date.parse(shift.ends_at);
  if (now < start) return 'upcoming';
  return now <= end ? 'open' : 'ended';
}

function currentShift() {
  const now = serverNow().getTime();
  const chosen = hx.shifts.find((s) => s.id === selectedShiftId);
  if (chosen) return chosen;
  return hx.shifts.find((s) => now >= Date.parse(s.starts_at) - EARLY_MS && now <= Date.parse(s.ends_at) + EARLY_MS)
    || hx.shifts.find((s) => Date.parse(s.starts_at) > now) || hx.shifts[hx.shifts.length - 1] || null;
}

async function loadShifts() {
  const key = `shifts:${session.user.id}`;
  const cached = await kv.get(key);
  if (cached) showShifts(cached.body);
  try {
    const { status, body, res } = await api('/v1/me/shifts', {
      headers: cached?.etag ? { 'If-None-Match': cached.etag } : {} });
    hx.shiftsStatus = status;
    if (status === 200) {
      await kv.set(key, { etag: res.headers.get('ETag'), body });
      showShifts(body);
    }
  } catch (err) {
    if (!(err instanceof Offline)) throw err;
  }
}

function showShifts(body) {
  hx.shifts = body.items;
  $('day').textContent = body.date;
  $('no-shift').hidden = body.items.length > 0;
  const current = currentShift();
  const list = $('shifts');
  list.replaceChildren();
  for (const shift of body.items) {
    const li = document.createElement('li');
    const state = shiftState(shift);
    li.className = `shift ${state}${current && current.id === shift.id ? ' selected' : ''}`;
    li.dataset.id = shift.id;
    const zone = shift.window.time_zone;
    li.innerHTML = '<b></b><span class="school"></span><span class="window"></span><span class="state"></span>';
    li.querySelector('b').textContent = shift.post.name;
    li.querySelector('.school').textContent = shift.school.name;
    li.querySelector('.window').textContent = `${t('window', timeIn(shift.starts_at, zone), timeIn(shift.ends_at, zone))}`
      + ` · ${t('radius', Math.round(shift.geofence.radius_m))}`;
    li.querySelector('.state').textContent = t(`shift_${state}`);
    li.addEventListener('click', () => { selectedShiftId = shift.id; showShifts(body); });
    list.append(li);
  }
  drawPin(current);
}

function drawPin(shift) {
  const el = $('pin');
  el.hidden = !shift || typeof L === 'undefined';
  if (el.hidden) return;
  if (!pinMap) {
    pinMap = L.map(el, { zoomControl: false, attributionControl: Boolean(config.tile_url) });
    if (config.tile_url) {
      L.tileLayer(config.tile_url, { subdomains: config.tile_subdomains, maxZoom: config.tile_max_zoom,
                                     attribution: config.tile_attribution, referrerPolicy: 'no-referrer' }).addTo(pinMap);
    } else {
      el.classList.add('plain');
    }
    pinLayer = L.layerGroup().addTo(pinMap);
  }
  const [x, y] = toMap(...shift.post.location.coordinates);
  const ll = L.latLng(y, x);
  pinLayer.clearLayers();
  L.circle(ll, { radius: shift.geofence.radius_m, color: '#7a4fc9', weight: 2, fillOpacity: 0.1 }).addTo(pinLayer);
  L.marker(ll, { title: shift.post.name }).addTo(pinLayer);
  if (hx.lastFix) {
    const [fx, fy] = toMap(...hx.lastFix);
    L.circleMarker(L.latLng(fy, fx), { radius: 6, color: '#1f6fd1', fillOpacity: 0.8 }).addTo(pinLayer);
  }
  pinMap.setView(ll, 17);
  setTimeout(() => pinMap.invalidateSize(), 0);
}

// --- check-ins: queue, send, replay -------------------------------------------------------------------------

function describe(record) {
  const c = record.checkin;
  if (!c) return '';
  const words = [];
  if (c.geofence === 'inside') words.push(t('inside'));
  else if (c.geofence === 'outside') words.push(t('outside', Math.round(c.distance_to_post_m ?? 0)));
  else if (c.geofence === 'uncertain') words.push(t('uncertain'));
  else words.push(t('no_post'));
  if (c.in_duty_window === false) words.push(t('not_in_window'));
  for (const flag of c.flags || []) {
    if (flag === 'outside_geofence' && c.geofence === 'outside') continue;
    words.push(t(`flag_${flag}`));
  }
  return words.join('；');
}

function renderRecords(records, others = 0) {
  hx.records = records;
  const list = $('queue');
  list.replaceChildren();
  const sorted = [...records].sort((a, b) => b.created_ms - a.created_ms);
  for (const r of sorted) {
    const li = document.createElement('li');
    li.className = `record ${r.state}`;
    li.dataset.id = r.id;
    li.dataset.state = r.state;
    const when = new Date(r.body.recorded_at).toLocaleTimeString(getLang() === 'en' ? 'en-GB' : 'zh-CN',
      { hourCycle: 'h23', timeZone: hx.shifts[0]?.window.time_zone }); // the duty's clock, as the shifts
    li.innerHTML = '<b></b> <span class="when"></span> <span class="state"></span><div class="judgement"></div>';
    li.querySelector('b').textContent = t(`kind_${r.body.kind}`);
    li.querySelector('.when').textContent = `${when} · ${t('accuracy', Math.round(r.body.accuracy_m))}`;
    li.querySelector('.state').textContent = r.state === 'rejected' ? `${t('rejected')}：${r.error || ''}` : t(r.state);
    li.querySelector('.judgement').textContent = describe(r);
    list.append(li);
  }
  const count = (s) => records.filter((r) => s.includes(r.state)).length;
  $('queue-summary').textContent = t('summary', count(['queued', 'sending']), count(['created', 'duplicate']), count(['rejected']))
    + (others ? ` · ${t('other_officer', others)}` : '');
}

async function refreshRecords() {
  if (!session) return;
  const db = await dbPromise;
  const all = await db.getAll('queue');
  const mine = [];
  let others = 0;
  for (const r of all) {
    if (r.officer_id !== session.user.id) { if (r.state === 'queued') others += 1; continue; }
    if (r.state !== 'queued' && Date.now() - r.created_ms > KEEP_RECORDS_MS) { await db.delete('queue', r.id); continue; }
    mine.push(r);
  }
  renderRecords(mine, others);
}

async function checkIn(kind, { auto = false } = {}) {
  const shift = currentShift();
  let pos;
  if (!auto) notice(t('locating'));
  try {
    pos = await locate();
  } catch (err) {
    notice(t('no_geo') + err.message);
    return null;
  }
  notice('');
  hx.lastFix = [pos.coords.longitude, pos.coords.latitude];
  const body = {
    id: crypto.randomUUID(), kind, recorded_at: serverNow(pos.timestamp || Date.now()).toISOString(), ...pointOf(pos),
    ...(shift ? { shift_id: shift.id, post_id: shift.post.id } : {}),
    device: { app: `huxiao-m/${config.version}`, clock_offset_ms: hx.clockOffsetMs, auto },
  };
  const record = { id: body.id, officer_id: session.user.id, body, state: 'queued', created_ms: Date.now() };
  await putRecord(record); // first on the phone, then on the air
  if (kind === 'arrive') hx.arrivedShift = shift?.id;
  if (kind === 'depart') hx.arrivedShift = null;
  if (kind !== 'depart') hx.lastHeartbeatMs = Date.now();
  await refreshRecords();
  if (shift) drawPin(shift);
  await flush();
  return body.id;
}

let flushing = null;
async function flush() {
  flushing ??= (async () => {
    try { await sendQueued(); } finally { flushing = null; }
  })();
  return flushing;
}

function judged(record, checkin) {
  record.checkin = checkin;
  record.sent_ms = Date.now();
}

async function sendQueued() {
  if (!session || !navigator.onLine) return;
  const queued = (await officerRecords(session.user.id)).filter((r) => r.state === 'queued')
    .sort((a, b) => a.created_ms - b.created_ms);
  if (!queued.length) return;
  try {
    if (queued.length === 1) {
      // One fresh check-in: the single endpoint (judged as an online check-in).
      const record = queued[0];
      try {
        const { status, body } = await api('/v1/checkins', { method: 'POST', body: record.body });
        record.state = status === 201 ? 'created' : 'duplicate';
        judged(record, body);
      } catch (err) {
        if (!(err instanceof ApiError) || err.status === 401 || err.status >= 500 || err.status === 429) throw err;
        record.state = 'rejected';
        record.error = err.message;
      }
      await putRecord(record);
      hx.sent += 1;
    } else {
      for (let i = 0; i < queued.length; i += BATCH_MAX) {
        const part = queued.slice(i, i + BATCH_MAX);
        const { body } = await api(`/v1/checkins/batch?fields=${JUDGEMENT}`, {
          method: 'POST', body: { items: part.map((r) => r.body) } });
        for (const [j, result] of body.results.entries()) {
          const record = part[j];
          record.state = result.status;
          if (result.checkin) judged(record, result.checkin);
          if (result.error) record.error = result.error.detail || result.error.title;
          await putRecord(record);
        }
        hx.sent += part.length;
      }
    }
  } catch (err) {
    if (!(err instanceof Offline || err instanceof ApiError)) hx.errors.push(String(err));
    if (err instanceof ApiError && err.status === 401) notice(t('session_expired'));
  } finally {
    await refreshRecords();
  }
}

// --- automatic heartbeat -------------------------------------------------------------------------------------

function autoTick() {
  if (!$('auto').checked || document.visibilityState !== 'visible' || !session) return;
  const shift = currentShift();
  if (!shift || shiftState(shift) !== 'open' || hx.arrivedShift !== shift.id) return;
  const every = Number($('every').value) * 60_000;
  if (!hx.lastHeartbeatMs || Date.now() - hx.lastHeartbeatMs >= every) {
    hx.lastHeartbeatMs = Date.now();
    checkIn('heartbeat', { auto: true });
  }
}

// --- incidents: report, alarms, arrival ----------------------------------------------------------------------

let pendingReportId = null; // kept until the server has the report, so pressing again never doubles it

async function report(event) {
  event.preventDefault();
  const out = $('report-result');
  out.textContent = t('locating');
  let pos;
  try { pos = await locate(); } catch (err) { out.textContent = t('no_geo') + err.message; return; }
  pendingReportId ??= crypto.randomUUID();
  const { location, crs } = pointOf(pos);
  try {
    const { body } = await api('/v1/incidents', { method: 'POST', body: {
      id: pendingReportId, category: $('category').value, severity: Number($('severity').value), source: 'patrol',
      description: $('note').value || null, location, crs, alarm_at: serverNow().toISOString() } });
    pendingReportId = null;
    $('note').value = '';
    out.textContent = t('report_sent', body.nearest_school?.name);
    hx.reported = body;
  } catch (err) {
    out.textContent = err instanceof Offline ? t('report_offline') : `${t('rejected')}：${err.message}`;
  }
}

function distanceM([lon1, lat1], [lon2, lat2]) {
  const r = 6371008.8;
  const rad = Math.PI / 180;
  const a = Math.sin(((lat2 - lat1) * rad) / 2) ** 2
    + Math.cos(lat1 * rad) * Math.cos(lat2 * rad) * Math.sin(((lon2 - lon1) * rad) / 2) ** 2;
  return 2 * r * Math.asin(Math.sqrt(a));
}

function nearestPostM(point) {
  let best = Infinity;
  for (const s of hx.shifts) best = Math.min(best, distanceM(point, s.post.location.coordinates));
  return best;
}

let audio = null;
function unlockSound() { audio ??= new (window.AudioContext || window.webkitAudioContext)(); }

function ring() {
  try {
    navigator.vibrate?.([300, 120, 300, 120, 300]);
    if (!audio) return;
    const now = audio.currentTime;
    for (let i = 0; i < 3; i += 1) {
      const osc = audio.createOscillator();
      const gain = audio.createGain();
      osc.frequency.value = i % 2 ? 660 : 880;
      gain.gain.setValueAtTime(0.25, now + i * 0.35);
      gain.gain.exponentialRampToValueAtTime(0.001, now + i * 0.35 + 0.3);
      osc.connect(gain).connect(audio.destination);
      osc.start(now + i * 0.35);
      osc.stop(now + i * 0.35 + 0.32);
    }
  } catch { /* no sound on this phone */ }
}

function alarmLabels(li, incident, d) {
  li.querySelector('b').textContent = t('alarm', category(incident.category), Math.round(d));
  li.querySelector('.sev').textContent = ` ${t('sev', incident.severity)}`;
  for (const option of li.querySelector('.tier').options) option.textContent = `${t('tier')} ${option.value}`;
  li.querySelector('button').textContent = t('on_scene');
}

function showAlarm(incident, { loud = true } = {}) {
  if (hx.alarms.some((a) => a.id === incident.id)) return;
  const d = nearestPostM(incident.location.coordinates);
  if (!(d <= config.alarm_radius_m)) return;
  hx.alarms.push({ id: incident.id, category: incident.category, distance_m: Math.round(d), incident });
  $('alarms-box').hidden = false;
  const li = document.createElement('li');
  li.className = 'alarm';
  li.dataset.id = incident.id;
  li.innerHTML = '<b></b><span class="sev"></span><p></p><div class="row"><select class="tier"></select><button type="button" class="primary"></button></div><p class="result"></p>';
  li.querySelector('p').textContent = incident.description || '';
  const tier = li.querySelector('.tier');
  for (const n of [1, 2, 3]) tier.append(new Option('', String(n)));
  tier.value = String(hx.user?.unit_type === 'guard' ? 1 : hx.user?.unit_type === 'police' ? 3 : 2);
  alarmLabels(li, incident, d);
  const button = li.querySelector('button');
  let arrivalId = null;
  button.addEventListener('click', async () => {
    unlockSound();
    const out = li.querySelector('.result');
    out.textContent = t('locating');
    let pos;
    try { pos = await locate(); } catch (err) { out.textContent = t('no_geo') + err.message; return; }
    arrivalId ??= crypto.randomUUID();
    try {
      const { body } = await api(`/v1/incidents/${incident.id}/arrivals`, { method: 'POST', body: {
        id: arrivalId, tier: Number(tier.value), arrived_at: serverNow().toISOString(), // the press, not the fix
        ...pointOf(pos) } });
      const secs = body.elapsed_s != null ? `${Math.round(body.elapsed_s)} s` : '';
      out.textContent = t('arrived', secs) + (body.far_from_scene ? `；${t('far')}` : '');
      li.dataset.arrived = 'yes';
    } catch (err) {
      out.textContent = err instanceof Offline ? t('report_offline') : `${t('rejected')}：${err.message}`;
    }
  });
  $('alarms').prepend(li);
  if (loud) ring();
}

async function loadAlarms() {
  const from = new Date(serverNow().getTime() - 6 * 3600_000).toISOString();
  try {
    const { body } = await api(`/v1/incidents?${new URLSearchParams({ from, limit: '50' })}`);
    for (const incident of body.items || []) {
      if (incident.status !== 'closed') showAlarm(incident, { loud: false });
    }
  } catch (err) {
    if (!(err instanceof Offline || err instanceof ApiError)) throw err;
  }
}

let stream = null;
class FatalStreamError extends Error {}

function setLive(on) {
  hx.live = on;
  $('live').classList.toggle('on', on);
  $('live').classList.toggle('off', !on);
}

async function openStream() {
  stream?.abort();
  const controller = new AbortController();
  stream = controller;
  let bearer;
  try { bearer = await token(); } catch { return; }
  fetchEventSource('/v1/stream', {
    headers: { Authorization: `Bearer ${bearer}` },
    signal: controller.signal,
    openWhenHidden: true,
    async onopen(res) {
      if (res.ok && (res.headers.get('content-type') || '').startsWith('text/event-stream')) { setLive(true); return; }
      throw new FatalStreamError(`stream answered ${res.status}`);
    },
    onmessage(msg) {
      if (msg.event !== 'incident.created' || !msg.data) return;
      try { showAlarm(JSON.parse(msg.data).payload); } catch (err) { hx.errors.push(String(err)); }
    },
    onclose() { setLive(false); },
    onerror(err) {
      setLive(false);
      if (err instanceof FatalStreamError) throw err;
      return 5000;
    },
  }).catch(async () => {
    setLive(false);
    if (controller.signal.aborted || !session) return;
    session.access_token = null; // most likely expired: a fresh one, then listen again
    setTimeout(() => openStream(), 5000);
  });
}

// --- sign in and out -------------------------------------------------------------------------------------------

function showLogin(message = '') {
  stream?.abort();
  setLive(false);
  $('app').hidden = true;
  $('actions').hidden = true;
  $('logout').hidden = true;
  $('login').hidden = false;
  $('login-error').textContent = message;
  document.body.dataset.state = 'login';
}

async function sessionExpired() {
  // The refresh token is dead (revoked or expired): sign in again; the queue stays for this officer.
  session = null;
  await kv.del('session');
  showLogin(t('session_expired'));
}

async function signIn(username, password) {
  const res = await send('/v1/auth/token', { method: 'POST', body: new URLSearchParams({ username, password }) });
  if (!res.ok) {
    let detail = t('wrong_login');
    try { detail = (await res.json()).detail || detail; } catch { /* not JSON */ }
    throw new ApiError(res.status, detail);
  }
  session = { user: null };
  keepTokens(await res.json());
  session.user = (await api('/v1/me')).body;
  await saveSession();
}

async function signOut() {
  const unsent = (await officerRecords(session.user.id)).filter((r) => r.state === 'queued').length;
  if (unsent && !window.confirm(t('unsent_warning', unsent))) return;
  stream?.abort();
  try {
    if (navigator.onLine) {
      await send('/v1/auth/logout', { method: 'POST', headers: { 'Content-Type': 'application/json',
        Authorization: `Bearer ${session.access_token}` }, body: JSON.stringify({ refresh_token: session.refresh_token }) });
    }
  } catch { /* offline: the tokens are forgotten here and expire on their own */ }
  const db = await dbPromise;
  for (const r of await officerRecords(session.user.id)) await db.delete('queue', r.id);
  await kv.del(`shifts:${session.user.id}`);
  await kv.del('session');
  session = null;
  hx.user = null;
  hx.ready = false;
  showLogin();
}

async function start() {
  hx.user = session.user;
  $('login').hidden = true;
  $('app').hidden = false;
  $('actions').hidden = false;
  $('logout').hidden = false;
  $('who').textContent = t('who', session.user.display_name, session.user.username);
  document.body.dataset.state = 'loading';
  await measureClock();
  await refreshRecords();
  await loadShifts();
  hx.ready = true;
  document.body.dataset.state = 'ready';
  flush();
  if (navigator.onLine) { loadAlarms(); openStream(); }
}

// --- wiring ------------------------------------------------------------------------------------------------------

function fillCategories() {
  const select = $('category');
  const keep = select.value;
  select.replaceChildren(...CATEGORIES.map((c) => new Option(category(c), c)));
  if (keep) select.value = keep;
}

function applyLanguage() {
  setLang(getLang());
  translatePage();
  $('lang').textContent = getLang() === 'en' ? '中文' : 'EN';
  fillCategories();
  setOnline(hx.online);
  if (session?.user) {
    $('who').textContent = t('who', session.user.display_name, session.user.username);
    if (hx.shifts.length) showShifts({ date: $('day').textContent, items: hx.shifts });
    for (const a of hx.alarms) {
      const li = document.querySelector(`#alarms li[data-id="${a.id}"]`);
      if (li) alarmLabels(li, a.incident, a.distance_m);
    }
    refreshRecords();
  }
}

$('lang').addEventListener('click', () => { setLang(getLang() === 'en' ? 'zh' : 'en'); applyLanguage(); });
$('login-form').addEventListener('submit', async (event) => {
  event.preventDefault();
  unlockSound();
  $('login-error').textContent = '';
  try {
    await signIn($('username').value.trim(), $('password').value);
    $('password').value = '';
    await start();
  } catch (err) {
    $('login-error').textContent = err instanceof Offline ? t('offline') : err.message;
  }
});
$('logout').addEventListener('click', () => signOut());
for (const kind of ['arrive', 'heartbeat', 'depart']) {
  $(kind).addEventListener('click', async (event) => {
    unlockSound();
    const button = event.currentTarget;
    button.disabled = true;
    try { await checkIn(kind); } finally { button.disabled = false; }
  });
}
$('report-form').addEventListener('submit', report);
$('auto').addEventListener('change', async () => {
  await kv.set('auto', { on: $('auto').checked, every: $('every').value });
});
$('every').addEventListener('change', () => $('auto').dispatchEvent(new Event('change')));

window.addEventListener('online', () => { setOnline(true); measureClock(); flush(); if (session) { openStream(); loadShifts(); } });
window.addEventListener('offline', () => setOnline(false));
document.addEventListener('visibilitychange', () => { if (document.visibilityState === 'visible') { flush(); autoTick(); } });
setInterval(() => { if (navigator.onLine) flush(); }, RETRY_EVERY_MS);
setInterval(autoTick, 15_000);
setInterval(() => { if (navigator.onLine) measureClock(); }, CLOCK_EVERY_MS);

if ('serviceWorker' in navigator) {
  navigator.serviceWorker.register('/m/sw.js', { scope: '/m/' })
    .then(() => navigator.serviceWorker.ready).then(() => { hx.offlineReady = true; })
    .catch((err) => hx.errors.push(`service worker: ${err}`));
}

(async () => {
  applyLanguage();
  setOnline(navigator.onLine);
  const auto = await kv.get('auto');
  if (auto) { $('auto').checked = auto.on; $('every').value = auto.every; }
  session = await kv.get('session');
  if (session?.user) await start();
  else showLogin();
})().catch((err) => { hx.errors.push(String(err)); console.error(err); });
