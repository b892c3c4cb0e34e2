// WGS-84 -> GCJ-02, the datum of AMap/Gaode and Tencent basemaps: a port of geo/crs.py (`_wgs84_to_gcj02`),
// term for term, so the page draws features where those maps draw the street. The API stays WGS-84; the page
// shifts only what it draws, and only when the basemap says it is GCJ-02. tests/test_map_crs.py checks this
// file against geo/crs.py on random points in China (agreement to well under 1 cm).

// Krasovsky 1940 ellipsoid, as used by the published GCJ-02 obfuscation.
const KRASOVSKY_SEMI_MAJOR_AXIS_M = 6378245.0;
const KRASOVSKY_ECCENTRICITY_SQUARED = 0.00669342162296594323;

// The rectangle inside which GCJ-02 is applied (it is the identity outside).
const CHINA_MIN_LON_DEG = 72.004;
const CHINA_MAX_LON_DEG = 137.8347;
const CHINA_MIN_LAT_DEG = 0.8293;
const CHINA_MAX_LAT_DEG = 55.8271;

const PI = Math.PI;

export function isInChina(lon, lat) {
  return CHINA_MIN_LON_DEG <= lon && lon <= CHINA_MAX_LON_DEG && CHINA_MIN_LAT_DEG <= lat && lat <= CHINA_MAX_LAT_DEG;
}

function latOffset(x, y) {
  let offset = -100.0 + 2.0 * x + 3.0 * y + 0.2 * y * y + 0.1 * x * y + 0.2 * Math.sqrt(Math.abs(x));
  offset += (20.0 * Math.sin(6.0 * x * PI) + 20.0 * Math.sin(2.0 * x * PI)) * 2.0 / 3.0;
  offset += (20.0 * Math.sin(y * PI) + 40.0 * Math.sin(y / 3.0 * PI)) * 2.0 / 3.0;
  offset += (160.0 * Math.sin(y / 12.0 * PI) + 320.0 * Math.sin(y * PI / 30.0)) * 2.0 / 3.0;
  return offset;
}

function lonOffset(x, y) {
  let offset = 300.0 + x + 2.0 * y + 0.1 * x * x + 0.1 * x * y + 0.1 * Math.sqrt(Math.abs(x));
  offset += (20.0 * Math.sin(6.0 * x * PI) + 20.0 * Math.sin(2.0 * x * PI)) * 2.0 / 3.0;
  offset += (20.0 * Math.sin(x * PI) + 40.0 * Math.sin(x / 3.0 * PI)) * 2.0 / 3.0;
  offset += (150.0 * Math.sin(x / 12.0 * PI) + 300.0 * Math.sin(x / 30.0 * PI)) * 2.0 / 3.0;
  return offset;
}

// [lon, lat] in WGS-84 -> [lon, lat] in GCJ-02 (unchanged outside China).
export function wgs84ToGcj02(lon, lat) {
  if (!isInChina(lon, lat)) return [lon, lat];
  let dLat = latOffset(lon - 105.0, lat - 35.0);
  let dLon = lonOffset(lon - 105.0, lat - 35.0);
  const radLat = lat * PI / 180.0;
  const magic = 1.0 - KRASOVSKY_ECCENTRICITY_SQUARED * Math.sin(radLat) ** 2;
  const sqrtMagic = Math.sqrt(magic);
  const a = KRASOVSKY_SEMI_MAJOR_AXIS_M;
  dLat = (dLat * 180.0) / ((a * (1.0 - KRASOVSKY_ECCENTRICITY_SQUARED)) / (magic * sqrtMagic) * PI);
  dLon = (dLon * 180.0) / (a / sqrtMagic * Math.cos(radLat) * PI);
  return [lon + dLon, lat + dLat];
}

// The function that moves API coordinates (WGS-84) into the basemap's datum.
export function toBasemap(datum) {
  return datum === 'gcj02' ? wgs84ToGcj02 : (lon, lat) => [lon, lat];
}
