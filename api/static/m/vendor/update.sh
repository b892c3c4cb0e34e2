#!/usr/bin/env bash
# Refresh the officer page's third-party files from the npm registry: `bash api/static/m/vendor/update.sh`.
# Change the version below, run this, check the page (tests/test_phone_browser.py), commit the result.
# The page also uses the map page's Leaflet, fetch-event-source and gcj02.js (api/static/map/).
set -euo pipefail
IDB=8.0.4
here=$(cd "$(dirname "$0")" && pwd)
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
cd "$work"
npm pack --silent "idb@$IDB" >/dev/null
mkdir idb && tar xzf idb-$IDB.tgz -C idb
rm -rf "$here"/idb
mkdir -p "$here"/idb
sed '/sourceMappingURL/d' idb/package/build/index.js > "$here"/idb/index.js
cp idb/package/LICENSE "$here"/idb/LICENSE
echo "idb $IDB -> $here"
