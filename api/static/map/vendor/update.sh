#!/usr/bin/env bash
# Refresh the map page's third-party files from the npm registry: `bash api/static/map/vendor/update.sh`.
# Change a version below, run this, check the page (tests/test_map_browser.py), commit the result.
set -euo pipefail
LEAFLET=1.9.4
UPLOT=1.6.32
FES=2.0.1   # @microsoft/fetch-event-source
here=$(cd "$(dirname "$0")" && pwd)
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
cd "$work"
npm pack --silent "leaflet@$LEAFLET" "uplot@$UPLOT" "@microsoft/fetch-event-source@$FES" >/dev/null
for f in *.tgz; do mkdir "${f%.tgz}"; tar xzf "$f" -C "${f%.tgz}"; done

rm -rf "$here"/leaflet "$here"/uplot "$here"/fetch-event-source
mkdir -p "$here"/leaflet/images "$here"/uplot "$here"/fetch-event-source
# Without the source maps (not shipped here), so no browser asks for them.
sed '/sourceMappingURL/d' leaflet-$LEAFLET/package/dist/leaflet.js > "$here"/leaflet/leaflet.js
cp leaflet-$LEAFLET/package/dist/leaflet.css "$here"/leaflet/
cp leaflet-$LEAFLET/package/dist/images/*.png "$here"/leaflet/images/
cp leaflet-$LEAFLET/package/LICENSE "$here"/leaflet/LICENSE
cp uplot-$UPLOT/package/dist/uPlot.iife.min.js uplot-$UPLOT/package/dist/uPlot.min.css "$here"/uplot/
cp uplot-$UPLOT/package/LICENSE "$here"/uplot/LICENSE
# The package's ES modules import './parse' without the extension a browser needs; add it.
for m in index fetch parse; do
  sed -e "s#from './parse'#from './parse.js'#; s#from './fetch'#from './fetch.js'#; /sourceMappingURL/d" \
    microsoft-fetch-event-source-$FES/package/lib/esm/$m.js > "$here"/fetch-event-source/$m.js
done
cp microsoft-fetch-event-source-$FES/package/LICENSE "$here"/fetch-event-source/LICENSE
echo "leaflet $LEAFLET, uplot $UPLOT, @microsoft/fetch-event-source $FES -> $here"
