// The command-centre map: school zones, posts and who is at them, today's incidents by their 1/3/5 state,
// responders' last positions, updated live from /v1/stream; response-time and compliance charts.
//
// Credentials: a person logs in (POST /v1/auth/token); the tokens live in this module's memory only, never in
// storage, so closing the tab logs out. A share link carries a viewer key in the page URL (`?key=…`), sent to
// the API as X-API-Key. Viewers see no officer positions. The API speaks WGS-84; when the basemap is GCJ-02
// every drawn coordinate goes through `toBasemap` (gcj02.js).

import { fetchEventSource } from './vendor/fetch-event-source/index.js';
import { toBasemap, wgs84ToGcj02 } from './gcj02.js';

const config = JSON.parse(document.getElementById('map-config').textContent);
const toMap = toBasemap(config.tile_datum);
const TIER_LIMITS_S = { 1: 60, 2: 180, 3: 300 };
const TIER_NAMES = { 1: '1 分钟 自救', 2: '3 分钟 互救', 3: '5 分钟 增援' };
const ON_POST_FRESH_S = 15 * 60;
const FETCH_CONCURRENCY = 6;
const TREND_DAYS = 7;
const FEED_MAX = 30;
const COLORS = { met: '#2e9e44', pending: '#e6a100', missed: '#d7263d', unit: '#1f6fd1', post: '#7a4fc9',
                 zone: '#1f6fd1', tier1: '#2e9e44', tier2: '#e6a100', tier3: '#d7263d', duty: '#16324f' };
const CATEGORY = {
  suspicious_person: '可疑人员', weapons: '管制刀具/汽油', violence: '暴力', bullying: '欺凌', school_disturbance: '校闹',
  fraud: '诈骗', traffic: '交通', food_safety: '食品安全', vice_gambling_drugs: '黄赌毒', theft_robbery: '盗抢',
  dispute: '纠纷', key_person: '重点人员', other: '其他',
};
const STATUS = { open: '待处置', dispatched: '已派警', on_scene: '已到场', controlled: '已控制', closed: '已结案' };

// What tests and big screens can read: counts of what is drawn, the live state, the transform.
const hx = window.huxiaoMap = {
  ready: false, live: false, role: null, config, errors: [], events: 0,
  counts: { schools: 0, zones: 0, posts: 0, on_post: 0, incidents: 0, met: 0, pending: 0, missed: 0, responders: 0 },
  crs: { wgs84ToGcj02 },
};

const auth = { token: null, refreshToken: null, key: new URLSearchParams(location.search).get('key') };
const $ = (id) => document.getElementById(id);

// --- talking to the API -----------------------------------------------------------------------------------

class ApiError extends Error {
  constructor(status, detail) { super(detail); this.status = status; }
}

function authHeaders() {
  if (auth.token) return { Authorization: `Bearer ${auth.token}` };
  if (auth.key) return { 'X-API-Key': auth.key };
  return {};
}

async function api(path, params) {
  const url = params ? `${path}?${new URLSearchParams(params)}` : path;
  let res = await fetch(url, { headers: { Accept: 'application/json', ...authHeaders() } });
  if (res.status === 401 && auth.refreshToken && await refresh()) {
    res = await fetch(url, { headers: { Accept: 'application/json', ...authHeaders() } });
  }
  if (!res.ok) {
    let detail = res.statusText;
    try { detail = (await res.json()).detail || detail; } catch { /* not JSON */ }
    if (res.status === 401 && !auth.key) showLogin('登录已失效，请重新登录');
    throw new ApiError(res.status, `${path}: ${detail}`);
  }
  return res.json();
}

async function allPages(path, params = {}, maxPages = 20) {
  const items = [];
  let cursor = null;
  for (let i = 0; i < maxPages; i++) {
    const page = await api(path, { limit: 1000, ...params, ...(cursor ? { cursor } : {}) });
    items.push(...page.items);
    cursor = page.next_cursor;
    if (!cursor) break;
  }
  return items;
}

async function mapLimit(items, limit, fn) {
  const out = new Array(items.length);
  let next = 0;
  async function worker() {
    while (next < items.length) {
      const i = next++;
      out[i] = await fn(items[i], i);
    }
  }
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, worker));
  return out;
}

function keepTokens(answer) {
  auth.token = answer.access_token;
  auth.refreshToken = answer.refresh_token;
  clearTimeout(auth.timer);
  auth.timer = setTimeout(refresh, Math.max(30, answer.expires_in * 0.8) * 1000);
}

async function refresh() {
  if (!auth.refreshToken) return false;
  const res = await fetch('/v1/auth/refresh', {
    method: 'POST', headers: { 'Content-Type': 'application/json' },
    body: JSON.stringify({ refresh_token: auth.refreshToken }),
  });
  if (!res.ok) { auth.token = auth.refreshToken = null; return false; }
  keepTokens(await res.json());
  return true;
}

async function login(username, password) {
  const res = await fetch('/v1/auth/token', {
    method: 'POST', body: new URLSearchParams({ username, password }),
  });
  if (!res.ok) {
    let detail = '用户名或密码错误';
    try { detail = (await res.json()).detail || detail; } catch { /* not JSON */ }
    throw new ApiError(res.status, detail);
  }
  keepTokens(await res.json());
}

// --- time in the jurisdiction's zone ------------------------------------------------------------------------

let timeZone = 'Asia/Shanghai';

function zoneOffsetMin(date) {
  const parts = Object.fromEntries(new Intl.DateTimeFormat('en-US', {
    timeZone, hourCycle: 'h23', year: 'numeric', month: '2-digit', day: '2-digit',
    hour: '2-digit', minute: '2-digit', second: '2-digit',
  }).formatToParts(date).map((p) => [p.type, p.value]));
  const asUtc = Date.UTC(+parts.year, +parts.month - 1, +parts.day, +parts.hour, +parts.minute, +parts.second);
  return Math.round((asUtc - Math.floor(date.getTime() / 1000) * 1000) / 60000);
}

function localMidnight(daysAgo = 0) {
  const now = new Date();
  const off = zoneOffsetMin(now);
  const local = new Date(now.getTime() + off * 60000);
  return new Date(Date.UTC(local.getUTCFullYear(), local.getUTCMonth(), local.getUTCDate() - daysAgo) - off * 60000);
}

function localDate(date) {
  return new Intl.DateTimeFormat('en-CA', { timeZone, year: 'numeric', month: '2-digit', day: '2-digit' }).format(date);
}

function localTime(iso) {
  return new Intl.DateTimeFormat('zh-CN', { timeZone, hour: '2-digit', minute: '2-digit', second: '2-digit', hourCycle: 'h23' })
    .format(new Date(iso));
}

// --- the map ------------------------------------------------------------------------------------------------

const map = hx.map = L.map('map', { zoomControl: true }).setView([29.3, 108.17], 13);
if (config.tile_url) {
  L.tileLayer(config.tile_url, {
    subdomains: config.tile_subdomains, maxZoom: config.tile_max_zoom, attribution: config.tile_attribution,
    referrerPolicy: 'no-referrer',
  }).addTo(map);
} else {
  $('map').classList.add('plain');
}
map.attributionControl.setPrefix('Leaflet');
L.control.scale({ imperial: false }).addTo(map);

const layers = {
  zones: L.layerGroup().addTo(map),
  schools: L.layerGroup().addTo(map),
  posts: L.layerGroup().addTo(map),
  incidents: L.layerGroup().addTo(map),
  units: L.layerGroup().addTo(map),
};
L.control.layers(null, {
  '护校区 200 米': layers.zones, '学校': layers.schools, '岗位': layers.posts, '警情': layers.incidents, '警力': layers.units,
}, { collapsed: true }).addTo(map);

const latLng = (coords) => { const [x, y] = toMap(coords[0], coords[1]); return L.latLng(y, x); };
const geoJsonOptions = { coordsToLatLng: latLng };

const drawn = hx.drawn = { schools: new Map(), posts: new Map(), incidents: new Map(), units: new Map() };
let bounds = null;

function extend(ll) {
  bounds = bounds ? bounds.extend(ll) : L.latLngBounds(ll, ll);
}

function esc(text) {
  return String(text ?? '').replace(/[&<>"']/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' }[c]));
}

function drawZone(school, feature) {
  const layer = L.geoJSON(feature, { ...geoJsonOptions, style: { color: COLORS.zone, weight: 1.2, fillOpacity: 0.08 } })
    .bindTooltip(`${esc(school.name)} · ${Math.round(school.zone_radius_m)} 米`, { sticky: true });
  layers.zones.addLayer(layer);
  hx.counts.zones += 1;
  const b = layer.getBounds();
  if (b.isValid()) { extend(b.getSouthWest()); extend(b.getNorthEast()); }
}

function drawSchool(school) {
  if (school.campus) {
    layers.schools.addLayer(L.geoJSON(school.campus, { ...geoJsonOptions, style: { color: '#16324f', weight: 1, fillOpacity: 0.15 } }));
  }
  const marker = L.circleMarker(latLng(school.location.coordinates), { radius: 3, color: '#16324f', fillOpacity: 1, weight: 1 })
    .bindTooltip(esc(school.name));
  layers.schools.addLayer(marker);
  drawn.schools.set(school.id, { ...school, marker });
}

function postLabel(post) {
  const names = [...post.present.values()];
  return `${esc(post.name)}<br>${names.length ? `在岗：${names.map(esc).join('、')}` : '暂无人在岗'}`;
}

function drawPost(post) {
  post.present = new Map();
  post.ring = L.circle(latLng(post.location.coordinates), { radius: post.radius_m, color: COLORS.post, weight: 1.5, fillOpacity: 0.05 });
  post.dot = L.circleMarker(latLng(post.location.coordinates), { radius: 4, color: COLORS.post, fillColor: '#fff', fillOpacity: 1, weight: 2 })
    .bindTooltip(postLabel(post), { className: 'post-label' });
  layers.posts.addLayer(post.ring).addLayer(post.dot);
  drawn.posts.set(post.id, post);
}

function refreshPost(post) {
  const manned = post.present.size > 0;
  post.dot.setStyle({ fillColor: manned ? COLORS.post : '#fff' });
  post.dot.setTooltipContent(postLabel(post));
}

function incidentState(incident) {
  const score = incident.score;
  if (!score || score.compliant === null || score.compliant === undefined) return 'pending';
  return score.compliant ? 'met' : 'missed';
}

function incidentPopup(incident) {
  const tiers = (incident.score?.tiers || []).map((t) => {
    const label = { met: '达标', missed: '超时', pending: '计时中' }[t.state];
    const elapsed = t.elapsed_s === null || t.elapsed_s === undefined ? '—' : `${Math.round(t.elapsed_s)} 秒`;
    return `<tr><td>${TIER_NAMES[t.tier] || t.tier}</td><td>${elapsed}</td><td>${label}</td></tr>`;
  }).join('');
  return `<b>${esc(CATEGORY[incident.category] || incident.category)}</b> · ${esc(STATUS[incident.status] || incident.status)}`
    + `<br>报警 ${localTime(incident.alarm_at)} · 等级 ${incident.severity}`
    + (incident.nearest_school ? `<br>${esc(incident.nearest_school.name)} ${Math.round(incident.nearest_school.distance_m)} 米` : '')
    + `<table>${tiers}</table>`;
}

function drawIncident(incident) {
  const state = incidentState(incident);
  let marker = drawn.incidents.get(incident.id);
  if (!marker) {
    marker = L.circleMarker(latLng(incident.location.coordinates), { radius: 8, weight: 2, color: '#fff', fillOpacity: 0.95 });
    layers.incidents.addLayer(marker);
    drawn.incidents.set(incident.id, marker);
  }
  marker.incident = { ...(marker.incident || {}), ...incident };
  marker.state = state;
  marker.setStyle({ fillColor: COLORS[state] });
  marker.bindPopup(incidentPopup(marker.incident));
  marker.getElement?.()?.setAttribute('data-state', state);
  countIncidents();
}

function countIncidents() {
  const c = { met: 0, pending: 0, missed: 0 };
  for (const m of drawn.incidents.values()) c[m.state] += 1;
  Object.assign(hx.counts, c, { incidents: drawn.incidents.size });
  showCounts();
}

function drawUnit(pos) {
  let unit = drawn.units.get(pos.responder_id);
  const ll = latLng(pos.location.coordinates);
  if (!unit) {
    unit = { marker: L.circleMarker(ll, { radius: 6, color: '#fff', weight: 2, fillColor: COLORS.unit, fillOpacity: 1 }) };
    layers.units.addLayer(unit.marker);
    drawn.units.set(pos.responder_id, unit);
  }
  Object.assign(unit, pos);
  unit.marker.setLatLng(ll);
  unit.marker.bindTooltip(`${esc(unit.name || '警力')} · ${localTime(unit.recorded_at)}`);
  // Who is at a post now: a fresh fix sent for that post's shift (a departure ends it).
  for (const post of drawn.posts.values()) {
    if (post.present.delete(pos.responder_id)) refreshPost(post);
  }
  const fresh = Date.now() - new Date(pos.recorded_at).getTime() < ON_POST_FRESH_S * 1000;
  const post = pos.post_id && drawn.posts.get(pos.post_id);
  if (post && fresh && pos.kind !== 'depart') {
    post.present.set(pos.responder_id, unit.name || '警力');
    refreshPost(post);
  }
  hx.counts.responders = drawn.units.size;
  hx.counts.on_post = [...drawn.posts.values()].filter((p) => p.present.size > 0).length;
  showCounts();
}

function showCounts() {
  const c = hx.counts;
  const set = (id, v) => { const el = $(id); if (el) el.textContent = v; };
  set('n-schools', c.schools); set('n-zones', c.zones); set('n-posts', c.posts); set('n-on-post', c.on_post);
  set('n-incidents', c.incidents); set('n-met', c.met); set('n-pending', c.pending); set('n-missed', c.missed);
  set('n-responders', hx.role === 'commander' || hx.role === 'admin' ? c.responders : '—');
  for (const [k, v] of Object.entries(c)) document.body.dataset[k.replace('_', '')] = v;
}

function status(text, isError = false) {
  const el = $('status');
  el.textContent = text;
  el.classList.toggle('error', isError);
}

function feed(text, at) {
  const li = document.createElement('li');
  li.innerHTML = `<time>${localTime(at || new Date().toISOString())}</time>${esc(text)}`;
  const list = $('feed');
  list.prepend(li);
  while (list.children.length > FEED_MAX) list.lastChild.remove();
}

// --- loading ------------------------------------------------------------------------------------------------

async function loadSchools() {
  const schools = await allPages('/v1/schools');
  hx.counts.schools = schools.length;
  schools.forEach(drawSchool);
  await mapLimit(schools, FETCH_CONCURRENCY, async (school) => {
    const [zone, posts] = await Promise.all([
      api(`/v1/schools/${school.id}/zone`),
      api(`/v1/schools/${school.id}/posts`, { limit: 1000 }),
    ]);
    drawZone(school, zone);
    posts.items.forEach(drawPost);
    hx.counts.posts = drawn.posts.size;
    showCounts();
  });
}

async function loadIncidents() {
  const today = await allPages('/v1/incidents', { from: localMidnight(0).toISOString() });
  today.forEach(drawIncident);
  countIncidents();
}

async function loadUnits() {
  // Officers' positions are for the command centre, never for dashboards or share links (viewers).
  if (hx.role !== 'commander' && hx.role !== 'admin') return;
  const positions = await allPages('/v1/units/positions');
  positions.forEach(drawUnit);
}

// --- charts -------------------------------------------------------------------------------------------------

function chartWidth(el) { return Math.max(260, el.clientWidth || 340); }

function limitLines(u) {
  const ctx = u.ctx;
  ctx.save();
  ctx.setLineDash([4, 4]);
  ctx.lineWidth = 1;
  for (const [tier, limit] of Object.entries(TIER_LIMITS_S)) {
    const x = u.valToPos(limit, 'x', true);
    ctx.strokeStyle = COLORS[`tier${tier}`];
    ctx.beginPath(); ctx.moveTo(x, u.bbox.top); ctx.lineTo(x, u.bbox.top + u.bbox.height); ctx.stroke();
    ctx.fillStyle = COLORS[`tier${tier}`];
    ctx.font = `${11 * devicePixelRatio}px sans-serif`;
    ctx.fillText(`${limit}s`, x + 3, u.bbox.top + 12 * devicePixelRatio);
  }
  ctx.restore();
}

// The share of decided incidents whose tier-k response came within x seconds, x = 0…600 s, against the
// 60/180/300 s limits (the dashed lines): where a curve crosses its line is the tier's met ratio.
function drawResponseChart(incidents) {
  const xs = [];
  for (let s = 0; s <= 600; s += 5) xs.push(s);
  const series = [1, 2, 3].map((tier) => {
    const decided = [];
    for (const inc of incidents) {
      const t = (inc.score?.tiers || []).find((x) => x.tier === tier);
      if (t && t.state !== 'pending') decided.push(t.elapsed_s ?? Infinity);
    }
    decided.sort((a, b) => a - b);
    return xs.map((x) => (decided.length ? decided.filter((e) => e <= x).length / decided.length * 100 : null));
  });
  const el = $('chart-response');
  el.textContent = '';
  hx.charts = hx.charts || {};
  hx.charts.response = new uPlot({
    width: chartWidth(el), height: 190,
    scales: { x: { time: false }, y: { range: [0, 100] } },
    axes: [{ label: '秒', size: 34 }, { label: '%', size: 40 }],
    series: [{ label: '秒' }, ...[1, 2, 3].map((t) => ({ label: TIER_NAMES[t], stroke: COLORS[`tier${t}`], width: 2 }))],
    hooks: { draw: [limitLines] },
    legend: { live: false },
  }, [xs, ...series], el);
}

async function loadCharts() {
  const from = localMidnight(TREND_DAYS - 1);
  const now = new Date();
  const recent = await allPages('/v1/incidents', { from: from.toISOString() }, 5);
  drawResponseChart(recent);

  // Per day: the share of decided incidents that met each tier (counts add up across the groups of
  // /v1/stats/response-times), and the share of duty shifts kept (/v1/duty/compliance/summary).
  const days = Array.from({ length: TREND_DAYS }, (_, i) => localMidnight(TREND_DAYS - 1 - i));
  const perDay = await mapLimit(days, FETCH_CONCURRENCY, async (day) => {
    const to = new Date(Math.min(day.getTime() + 86400000, now.getTime()));
    const [stats, duty] = await Promise.all([
      api('/v1/stats/response-times', { from: day.toISOString(), to: to.toISOString(), group_by: 'jurisdiction' }),
      api('/v1/duty/compliance/summary', { date: localDate(new Date(day.getTime() + 12 * 3600000)), group_by: 'jurisdiction' }),
    ]);
    return { day, stats, duty };
  });
  const ratio = (a, b) => (b ? (a / b) * 100 : null);
  const tierTotals = { 1: { met: 0, missed: 0 }, 2: { met: 0, missed: 0 }, 3: { met: 0, missed: 0 } };
  const trend = [[], [], [], [], []];
  for (const { day, stats, duty } of perDay) {
    trend[0].push(day.getTime() / 1000);
    for (const tier of [1, 2, 3]) {
      let met = 0; let missed = 0;
      for (const g of stats.groups) {
        const t = g.tiers.find((x) => x.tier === tier);
        if (t) { met += t.met; missed += t.missed; }
      }
      tierTotals[tier].met += met; tierTotals[tier].missed += missed;
      trend[tier].push(ratio(met, met + missed));
    }
    let kept = 0; let decided = 0;
    for (const g of duty.groups) { kept += g.kept; decided += g.kept + g.late + g.partial + g.absent; }
    trend[4].push(ratio(kept, decided));
  }
  $('tier-table').tBodies[0].innerHTML = [1, 2, 3].map((tier) => {
    const { met, missed } = tierTotals[tier];
    const r = ratio(met, met + missed);
    return `<tr><td>${TIER_NAMES[tier]}</td><td>${TIER_LIMITS_S[tier]} 秒</td><td>${met}</td><td>${missed}</td>`
      + `<td>${r === null ? '—' : `${r.toFixed(0)}%`}</td></tr>`;
  }).join('');
  const el = $('chart-trend');
  el.textContent = '';
  hx.charts.trend = new uPlot({
    width: chartWidth(el), height: 190,
    tzDate: (ts) => uPlot.tzDate(new Date(ts * 1000), timeZone),
    scales: { y: { range: [0, 100] } },
    axes: [{ values: '{M}/{D}', size: 30 }, { label: '%', size: 40 }],
    series: [
      { label: '日期', value: '{YYYY}-{MM}-{DD}' },
      ...[1, 2, 3].map((t) => ({ label: `${TIER_NAMES[t].split(' ')[0]}达标`, stroke: COLORS[`tier${t}`], width: 2, points: { show: true } })),
      { label: '勤务履职', stroke: COLORS.duty, width: 2, dash: [6, 3], points: { show: true } },
    ],
    legend: { live: false },
  }, trend, el);
  hx.trend = trend;
}

// --- the live feed ------------------------------------------------------------------------------------------

let stream = null;

function onEvent(kind, data) {
  hx.events += 1;
  const p = data.payload || {};
  if (kind === 'incident.created' || kind === 'incident.updated') {
    if (kind === 'incident.created' && new Date(p.alarm_at) < localMidnight(0)) return; // not today's
    if (kind === 'incident.updated' && !drawn.incidents.has(p.id)) return;
    drawIncident({ ...p, id: p.id });
    if (kind === 'incident.created') {
      feed(`新警情：${CATEGORY[p.category] || p.category}${p.nearest_school ? ` · ${p.nearest_school.name}` : ''}`, data.at);
    }
  } else if (kind === 'incident.score' || kind === 'incident.arrival') {
    const marker = drawn.incidents.get(p.incident_id);
    if (marker) drawIncident({ ...marker.incident, score: p.score });
    if (kind === 'incident.arrival') feed(`到场：第 ${p.tier} 层级，${Math.round(p.elapsed_s ?? 0)} 秒`, data.at);
  } else if (kind === 'checkin.created') {
    const known = drawn.units.get(p.officer_id);
    drawUnit({ responder_id: p.officer_id, name: known?.name, location: p.location, recorded_at: p.recorded_at,
               post_id: p.post_id, kind: p.kind });
  } else if (kind === 'duty.alert') {
    feed(p.kind === 'uncovered_post' ? `岗位无人：${p.details?.post_name || ''}` : `民警离岗：${p.details?.post_name || ''}`, data.at);
  }
}

function setLive(on) {
  hx.live = on;
  $('live').classList.toggle('on', on);
  $('live').classList.toggle('off', !on);
  document.body.dataset.live = on ? 'on' : 'off';
}

class FatalStreamError extends Error {}

function openStream() {
  const controller = new AbortController();
  stream = controller;
  fetchEventSource('/v1/stream', {
    headers: authHeaders(),
    signal: controller.signal,
    openWhenHidden: true, // a big screen may be "hidden" behind another window and must stay live
    async onopen(res) {
      if (res.ok && (res.headers.get('content-type') || '').startsWith('text/event-stream')) { setLive(true); return; }
      throw new FatalStreamError(`stream answered ${res.status}`);
    },
    onmessage(msg) {
      if (!msg.event || !msg.data) return;
      try { onEvent(msg.event, JSON.parse(msg.data)); } catch (err) { console.error('bad event', err); }
    },
    onclose() { setLive(false); },
    onerror(err) {
      setLive(false);
      if (err instanceof FatalStreamError) throw err;
      return 3000; // retry; the library resends Last-Event-ID, so nothing is missed
    },
  }).catch(async (err) => {
    setLive(false);
    if (controller.signal.aborted) return;
    // Most likely the access token expired: refresh it once and listen again.
    if (auth.refreshToken && await refresh()) { openStream(); return; }
    status(`实时连接中断：${err.message}`, true);
  });
}

// --- start --------------------------------------------------------------------------------------------------

function showLogin(message = '') {
  stream?.abort();
  $('login').hidden = false;
  $('login-error').textContent = message;
  document.body.dataset.state = 'login';
  $('username').focus();
}

async function start() {
  $('login').hidden = true;
  document.body.dataset.state = 'loading';
  status('加载中…');
  if (auth.key) {
    hx.role = 'viewer';
    $('who').textContent = '只读分享链接';
  } else {
    const me = await api('/v1/me');
    hx.role = me.role;
    $('who').textContent = `${me.display_name}（${me.username}）`;
    $('logout').hidden = false;
  }
  document.body.dataset.role = hx.role;
  const top = (await api('/v1/jurisdictions', { limit: 1 })).items[0];
  if (top) { timeZone = top.time_zone || timeZone; $('where').textContent = top.name; }
  openStream(); // first, so nothing that happens while the layers load is missed
  await Promise.all([loadSchools(), loadIncidents()]);
  await loadUnits(); // after the posts, to show who is at each
  if (bounds && bounds.isValid()) map.fitBounds(bounds, { padding: [20, 20], maxZoom: 16 });
  await loadCharts();
  showCounts();
  hx.ready = true;
  document.body.dataset.state = 'ready';
  status(`已加载 · ${new Date().toLocaleTimeString('zh-CN', { hourCycle: 'h23' })}`);
}

function failed(err) {
  hx.errors.push(String(err.message || err));
  if (err instanceof ApiError && err.status === 401 && !auth.key) return; // the login form is showing
  status(`加载失败：${err.message}`, true);
  console.error(err);
}

$('login-form').addEventListener('submit', async (event) => {
  event.preventDefault();
  $('login-error').textContent = '';
  try {
    await login($('username').value, $('password').value);
    $('password').value = '';
    await start();
  } catch (err) {
    if (err instanceof ApiError && (err.status === 401 || err.status === 429)) {
      $('login-error').textContent = err.message;
    } else {
      failed(err);
    }
  }
});

$('logout').addEventListener('click', async () => {
  stream?.abort();
  try {
    await fetch('/v1/auth/logout', {
      method: 'POST', headers: { 'Content-Type': 'application/json', ...authHeaders() },
      body: JSON.stringify({ refresh_token: auth.refreshToken }),
    });
  } finally {
    auth.token = auth.refreshToken = null;
    location.reload();
  }
});

if (auth.key) start().catch(failed);
else showLogin();
