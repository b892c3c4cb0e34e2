// Labels of the officer page in Chinese and English; `t(key, ...args)` in the chosen language.

const TEXT = {
  zh: {
    title: '护校 · 民警', online: '在线', offline: '离线', sign_in: '登录', sign_out: '退出',
    username: '用户名', password: '密码', wrong_login: '用户名或密码错误',
    today: '今日勤务', no_shift: '今天没有排班', records: '签到记录', alarms: '附近警情',
    auto_heartbeat: '岗位开放时自动在岗签到，每', minutes: '分钟',
    arrive: '到岗', heartbeat: '在岗', depart: '离岗', arrive_en: 'arrive', heartbeat_en: 'on post', depart_en: 'depart',
    report_incident: '上报警情', category: '类别', severity: '等级', note: '情况说明',
    location_used: '位置取自手机定位', send_report: '上报',
    who: (name, user) => `${name}（${user}）`,
    window: (a, b) => `${a}–${b}`, radius: (m) => `岗位范围 ${m} 米`,
    shift_upcoming: '未开始', shift_open: '进行中', shift_ended: '已结束', selected: '当前岗位',
    locating: '正在定位…', no_geo: '无法获取定位：', geo_denied: '请允许本页面使用定位',
    queued: '待上传（无网络，已排队）', sending: '上传中…', created: '已接收', duplicate: '已接收（重复上传已合并）',
    rejected: '被拒绝', accuracy: (m) => `精度 ±${m} 米`,
    kind_arrive: '到岗', kind_heartbeat: '在岗', kind_depart: '离岗',
    inside: '在岗位范围内', outside: (d) => `不在岗位范围内（距岗位 ${d} 米）`,
    uncertain: '定位不够准，无法确定是否在岗位范围内', no_post: '未关联岗位',
    in_zone: '在学校护校区内', not_in_window: '不在勤务时段',
    flag_poor_accuracy: '定位精度差', flag_clock_skew: '手机时间不准', flag_impossible_speed: '位置跳变异常',
    flag_mock_location: '疑似模拟定位', flag_outside_zone: '不在任何学校 200 米护校区内', flag_no_shift: '没有对应的排班',
    flag_stale: '离线补传', flag_outside_geofence: '在岗位范围外',
    summary: (q, a, r) => `待上传 ${q} 条 · 已接收 ${a} 条 · 被拒绝 ${r} 条`,
    other_officer: (n) => `另有 ${n} 条属于其他账号的记录，仅在其登录后上传`,
    unsent_warning: (n) => `还有 ${n} 条签到没有上传。退出将删除它们，确定退出吗？`,
    skew: (s) => `手机时间与服务器相差 ${s} 秒，签到时间已按服务器校正`,
    session_expired: '登录已过期，请重新登录；未上传的记录会保留',
    report_sent: (school) => `已上报${school ? `，最近学校：${school}` : ''}`,
    report_offline: '没有网络，警情未上报；请稍后再按“上报”（不会重复）',
    alarm: (cat, d) => `${cat} · 距岗位 ${d} 米`, on_scene: '我已到场', arrived: (s) => `已记录到场（${s}）`,
    far: '距现场过远，不计入处警时效', tier: '层级', sev: (n) => `${n} 级`,
    cats: {
      suspicious_person: '可疑人员', weapons: '管制刀具/汽油', violence: '暴力', bullying: '欺凌', school_disturbance: '校闹',
      fraud: '诈骗', traffic: '交通', food_safety: '食品安全', vice_gambling_drugs: '黄赌毒', theft_robbery: '盗抢',
      dispute: '纠纷', key_person: '重点人员', other: '其他',
    },
  },
  en: {
    title: 'Huxiao · Officer', online: 'online', offline: 'offline', sign_in: 'Sign in', sign_out: 'Sign out',
    username: 'Username', password: 'Password', wrong_login: 'Wrong username or password',
    today: "Today's shifts", no_shift: 'No shift today', records: 'Check-ins', alarms: 'Alarms nearby',
    auto_heartbeat: 'While a shift is open, check in on post every', minutes: 'min',
    arrive: 'Arrive', heartbeat: 'On post', depart: 'Depart', arrive_en: '到岗', heartbeat_en: '在岗', depart_en: '离岗',
    report_incident: 'Report an incident', category: 'Category', severity: 'Severity', note: 'Note',
    location_used: "Location from the phone's GPS", send_report: 'Report',
    who: (name, user) => `${name} (${user})`,
    window: (a, b) => `${a}–${b}`, radius: (m) => `geofence ${m} m`,
    shift_upcoming: 'upcoming', shift_open: 'open', shift_ended: 'ended', selected: 'selected',
    locating: 'Locating…', no_geo: 'No location: ', geo_denied: 'Allow this page to use your location',
    queued: 'queued (no network)', sending: 'sending…', created: 'accepted', duplicate: 'accepted (replay merged)',
    rejected: 'refused', accuracy: (m) => `±${m} m`,
    kind_arrive: 'Arrive', kind_heartbeat: 'On post', kind_depart: 'Depart',
    inside: "inside the post's geofence", outside: (d) => `outside the post's geofence (${d} m from the post)`,
    uncertain: 'fix too coarse to tell whether inside the geofence', no_post: 'no post',
    in_zone: "in a school's zone", not_in_window: 'outside the duty window',
    flag_poor_accuracy: 'poor accuracy', flag_clock_skew: "phone's clock is off", flag_impossible_speed: 'impossible jump',
    flag_mock_location: 'mock location', flag_outside_zone: "in no school's 200 m zone", flag_no_shift: 'no matching shift',
    flag_stale: 'sent late (offline)', flag_outside_geofence: 'outside the geofence',
    summary: (q, a, r) => `${q} queued · ${a} accepted · ${r} refused`,
    other_officer: (n) => `${n} more belong to another account; sent only when it signs in`,
    unsent_warning: (n) => `${n} check-ins are not sent yet. Signing out deletes them. Sign out?`,
    skew: (s) => `The phone's clock is ${s} s off the server's; check-in times are corrected`,
    session_expired: 'Your login expired; sign in again. Unsent check-ins are kept',
    report_sent: (school) => `Reported${school ? `; nearest school: ${school}` : ''}`,
    report_offline: 'No network: not reported. Press "Report" again later (it will not be doubled)',
    alarm: (cat, d) => `${cat} · ${d} m from your post`, on_scene: "I'm on scene", arrived: (s) => `Arrival recorded (${s})`,
    far: 'too far from the scene to count', tier: 'tier', sev: (n) => `severity ${n}`,
    cats: {
      suspicious_person: 'Suspicious person', weapons: 'Knives / petrol', violence: 'Violence', bullying: 'Bullying',
      school_disturbance: 'School disturbance', fraud: 'Fraud', traffic: 'Traffic', food_safety: 'Food safety',
      vice_gambling_drugs: 'Vice, gambling, drugs', theft_robbery: 'Theft / robbery', dispute: 'Dispute',
      key_person: 'Key person', other: 'Other',
    },
  },
};

let lang = localStorage.getItem('huxiao-lang') === 'en' ? 'en' : 'zh';

export function getLang() { return lang; }

export function setLang(next) {
  lang = next === 'en' ? 'en' : 'zh';
  localStorage.setItem('huxiao-lang', lang);
  document.documentElement.lang = lang === 'en' ? 'en' : 'zh-CN';
}

export function t(key, ...args) {
  const value = TEXT[lang][key] ?? TEXT.zh[key] ?? key;
  return typeof value === 'function' ? value(...args) : value;
}

export function category(name) { return TEXT[lang].cats[name] || name; }

export const CATEGORIES = Object.keys(TEXT.zh.cats);

export function translatePage(root = document) {
  for (const el of root.querySelectorAll('[data-i18n]')) el.textContent = t(el.dataset.i18n);
  document.title = t('title');
}
