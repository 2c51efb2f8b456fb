#!/usr/bin/env bash
# Unpack Prometheus 3.x, promtool, Alertmanager and amtool from Debian's unstable suite into a
# cache directory, without touching the system's apt state, so the rule tests also run on 3.x.
# The Debian mirror is the one this machine's apt already uses. Prints the bin directory.
set -euo pipefail
root=${AGENTWATCH_PROMETHEUS3_DIR:-/var/tmp/agentwatch-prometheus3}
if [ -x "$root/tools/usr/bin/promtool" ]; then echo "$root/tools/usr/bin"; exit 0; fi
mirror=$(grep -hoE '^(URIs:|deb) +[^ ]+/debian/?( |$)' /etc/apt/sources.list.d/*.sources /etc/apt/sources.list 2>/dev/null \
  | awk '{print $2}' | head -n1 || true)
[ -n "$mirror" ] || { echo "prometheus3.sh: no Debian mirror in the apt sources" >&2; exit 1; }
apt_dir=$root/apt
mkdir -p "$apt_dir/lists/partial" "$apt_dir/cache/archives/partial" "$root/debs" "$root/tools"
echo "deb [signed-by=/usr/share/keyrings/debian-archive-keyring.gpg] ${mirror%/} sid main" > "$apt_dir/sources.list"
opts=(-o Dir::Etc::SourceList="$apt_dir/sources.list" -o Dir::Etc::SourceParts=/dev/null
      -o Dir::State::Lists="$apt_dir/lists" -o Dir::Cache="$apt_dir/cache" -o Debug::NoLocking=1)
apt-get "${opts[@]}" -qq update >&2
(cd "$root/debs" && apt-get "${opts[@]}" -qq download prometheus promtool prometheus-alertmanager >&2)
for f in "$root"/debs/*.deb; do dpkg -x "$f" "$root/tools"; done
"$root/tools/usr/bin/promtool" --version >&2
echo "$root/tools/usr/bin"
