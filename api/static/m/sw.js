// The officer page's service worker (scope /m/): keeps the page and its files so the page opens with no network.
// Version __VERSION__ — a new version of any file is a new worker, which replaces the old cache when it activates.
// API requests (/v1/…) are never touched here: the page queues check-ins itself (IndexedDB) and replays them.

const CACHE = 'huxiao-m-__VERSION__';
const PRECACHE = __PRECACHE__;
const PAGE = '/m/';

self.addEventListener('install', (event) => {
  event.waitUntil(caches.open(CACHE).then((cache) => cache.addAll(PRECACHE)).then(() => self.skipWaiting()));
});

self.addEventListener('activate', (event) => {
  event.waitUntil(caches.keys()
    .then((keys) => Promise.all(keys.filter((k) => k.startsWith('huxiao-m-') && k !== CACHE).map((k) => caches.delete(k))))
    .then(() => self.clients.claim()));
});

async function pageFirstFromNetwork(request) {
  // The page: fresh when the network answers (it carries the current version), else the kept copy.
  const cache = await caches.open(CACHE);
  try {
    const response = await fetch(request);
    if (response.ok) await cache.put(PAGE, response.clone());
    return response;
  } catch (err) {
    const kept = await cache.match(PAGE);
    if (kept) return kept;
    throw err;
  }
}

async function fileFromCache(request) {
  // Static files: the kept copy (any ?v=), else the network, kept for next time.
  const cache = await caches.open(CACHE);
  const kept = await cache.match(request, { ignoreSearch: true });
  if (kept) return kept;
  const response = await fetch(request);
  if (response.ok) await cache.put(request, response.clone());
  return response;
}

self.addEventListener('fetch', (event) => {
  const { request } = event;
  if (request.method !== 'GET') return;
  const url = new URL(request.url);
  if (url.origin !== self.location.origin) return;
  if (request.mode === 'navigate' && (url.pathname === '/m/' || url.pathname === '/m')) {
    event.respondWith(pageFirstFromNetwork(request));
  } else if (url.pathname.startsWith('/m/static/') || url.pathname.startsWith('/map/static/')
             || url.pathname === '/m/manifest.webmanifest') {
    event.respondWith(fileFromCache(request));
  }
});
