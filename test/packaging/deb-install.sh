#!/usr/bin/env bash
# Installs the Debian package into a throwaway root and does what an operator would, printing one
# name=value line per finding for test/packaging/deb.test.ts to check.
# The throwaway root is this machine's own root under a copy-on-write layer on a tmpfs, in a mount
# namespace of its own: it vanishes when this script ends, and the checkout it was built from is
# hidden in it (only the package's files can make anything work).
# Usage, as root: unshare --mount --propagation private --pid --fork bash deb-install.sh WORKDIR PACKAGE.deb CHECKOUT
# (its own PID namespace: it sees, and can kill, only what it started, and all of it ends with it)
set -euo pipefail
work=$1 deb=$2 checkout=$3
# The overlay covers the root filesystem only: a /usr, /var, /etc or /opt of its own would be empty in it.
for dir in /usr /var /etc /opt; do
  if mountpoint -q "$dir"; then
    echo "skip=$dir is a filesystem of its own here, which an overlay of / does not show"
    exit 0
  fi
done
mount -t tmpfs -o size=3g tmpfs "$work"
mkdir "$work/upper" "$work/work" "$work/root"
if ! mount -t overlay overlay -o "lowerdir=/,upperdir=$work/upper,workdir=$work/work" "$work/root" 2>/dev/null; then
  echo "skip=this kernel mounts no overlay over / here"
  exit 0
fi
root=$work/root
mount -t proc proc "$root/proc"
mount --rbind /dev "$root/dev"
mount -t tmpfs tmpfs "$root$checkout"
mount -t tmpfs tmpfs "$root/run"
mount -t tmpfs tmpfs "$root/tmp"
cp "$deb" "$root/tmp/fleet-agent.deb"
exec chroot "$root" /bin/bash -s <<'INSIDE'
set -uo pipefail
say() { printf '%s=%s\n' "$1" "$(printf '%s' "$2" | tr '\n' ' ')"; }
state=/var/lib/fleet-agent
tcti=swtpm:path=/run/swtpm/dev/tpm.sock
agent=
cleanup() {
  [ -z "$agent" ] || kill -KILL "$agent" 2>/dev/null
  runuser -u fleet -- fleet swtpm stop --dir /run/swtpm/dev >/dev/null 2>&1
  fleet swtpm stop --dir /run/swtpm/owner >/dev/null 2>&1
  pkill -KILL -u fleet 2>/dev/null
}
trap cleanup EXIT

# An account fleet that a person uses is not taken over: the install stops, and goes on once it is gone.
useradd --uid 1500 --no-create-home fleet
dpkg -i /tmp/fleet-agent.deb >/tmp/refused.log 2>&1
say refused_user "$? $(grep -o 'the account fleet (uid 1500) is not a system account' /tmp/refused.log)"
userdel fleet
dpkg --configure fleet-agent >/tmp/dpkg.log 2>&1
say dpkg_install $?
say dpkg_log "$(tail -5 /tmp/dpkg.log)"
say fleet_path "$(command -v fleet)"
say fleet_version "$(fleet --version 2>&1)"
say fleet_groups "$(id -nG fleet 2>&1)"
say fleet_shell "$(getent passwd fleet | cut -d: -f6,7)"
say state_dir "$(stat -c '%a %U %G' $state 2>&1)"
say config "$(stat -c '%a %U' /etc/fleet-agent/config.json 2>&1)"
say conffiles "$(cat /var/lib/dpkg/info/fleet-agent.conffiles 2>&1)"
say unit "$(stat -c '%a %U' /lib/systemd/system/fleet-agent.service 2>&1)"
say man_commands "$(zcat /usr/share/man/man1/fleet.1.gz | grep -c '^\.SS ')"
say man_verify "$(zcat /usr/share/man/man1/fleet.1.gz | grep -c '^\.SS "fleet ledger verify"')"
complete_words() {
  bash -c 'source /usr/share/bash-completion/completions/fleet
    COMP_WORDS=("$@"); COMP_CWORD=$(($# - 1)); _fleet; printf "%s " "${COMPREPLY[@]}"' complete "$@"
}
say complete_led "$(complete_words fleet led)"
say complete_ledger_ve "$(complete_words fleet ledger ve)"
say complete_verify_opts "$(complete_words fleet ledger verify --st)"

# The agent on a software TPM, started as its unit would: its user, its RuntimeDirectory, its
# ExecStartPre (here the simulated boot's event log in place of the kernel's), its Environment=
# with FLEET_TCTI told to use the software TPM (a drop-in would say so), its ExecStart line.
install -d -m 0700 -o fleet -g fleet /run/swtpm
runuser -u fleet -- fleet swtpm start --dir /run/swtpm/dev --ca-dir /run/swtpm/ca >/tmp/swtpm.log 2>&1 &&
  runuser -u fleet -- fleet swtpm boot --dir /run/swtpm/dev >>/tmp/swtpm.log 2>&1
say swtpm $?
runuser -u fleet -- fleet init --state $state --tcti $tcti --json >/tmp/init.log 2>&1
say init $?
say init_log "$(tail -3 /tmp/init.log)"
device_id=$(grep -o '"deviceId":"[a-z2-7]*"' /tmp/init.log | cut -d'"' -f4)
install -d -m 0711 -o fleet -g fleet /run/fleet-agent
# The operator's configuration, read by the unit's --config-if-present: loopback, no mDNS.
printf '{"logLevel": "info", "mdns": false, "listen": ["/ip4/127.0.0.1/tcp/0"]}\n' >/etc/fleet-agent/config.json
install -m 0400 -o fleet -g fleet /run/swtpm/dev/binary_bios_measurements /run/fleet-agent/binary_bios_measurements
# An owner (root here, on a software TPM of its own) enrols the device over loopback.
fleet swtpm start --dir /run/swtpm/owner --ca-dir /run/swtpm/ca >>/tmp/swtpm.log 2>&1 &&
  fleet swtpm boot --dir /run/swtpm/owner >>/tmp/swtpm.log 2>&1
fleet_id=$(fleet owner init --state /root/fleet-owner --tcti swtpm:path=/run/swtpm/owner/tpm.sock --name package --json |
  grep -o '"fleetId":"[0-9a-f]*"' | cut -d'"' -f4)
fleet policy create --from-eventlog /run/swtpm/dev/binary_bios_measurements --out /root/policy.json >/dev/null
runuser -u fleet -- fleet join --state $state --eventlog /run/fleet-agent/binary_bios_measurements \
  --listen /ip4/127.0.0.1/tcp/0 --yes --expect-fleet "$fleet_id" --timeout 30 --json >/tmp/join.log 2>&1 &
joining=$!
address=
for _ in $(seq 1 100); do
  address=$(grep -o '/ip4/127.0.0.1/tcp/[0-9]*/p2p/[0-9A-Za-z]*' /tmp/join.log | head -1)
  [ -z "$address" ] && kill -0 $joining 2>/dev/null && sleep 0.2 || break
done
fleet enrol --state /root/fleet-owner --policy /root/policy.json --trust-store /run/swtpm/ca --allow-software-tpm \
  --peer "$address" --yes --expect "$device_id" --timeout 25 --json >/tmp/enrol.log 2>&1
say enrol $?
wait $joining
say join $?
say enrol_log "$(tail -2 /tmp/enrol.log) $(tail -2 /tmp/join.log)"
unit=/lib/systemd/system/fleet-agent.service
exec_start=$(sed -n 's/^ExecStart=//p' $unit)
mapfile -t environment < <(sed -n 's/^Environment=//p' $unit)
say exec_start "$exec_start"
runuser -u fleet -- env "${environment[@]}" FLEET_TCTI=$tcti $exec_start >/tmp/agent.log 2>&1 &
agent=$!
status=1
for _ in $(seq 1 120); do
  kill -0 $agent 2>/dev/null || break
  if runuser -u fleet -- fleet status --state $state >/tmp/status.log 2>&1; then status=0; break; fi
  sleep 0.5
done
say status $status
say status_text "$(head -3 /tmp/status.log)"
# SIGTERM to the agent itself, as systemd sends it (runuser, signalled, would die of it after its child).
kill -TERM "$(pgrep -P $agent)" 2>/dev/null
wait $agent
say agent_exit $?
agent=
say agent_log "$(grep -c '"level":"error"' /tmp/agent.log) errors: $(grep '"level":"error"' /tmp/agent.log | head -2)"
runuser -u fleet -- fleet swtpm stop --dir /run/swtpm/dev >/dev/null 2>&1
fleet swtpm stop --dir /run/swtpm/owner >/dev/null 2>&1

dpkg --purge fleet-agent >/tmp/purge.log 2>&1
say purge $?
say after_purge "bin:$([ -e /usr/bin/fleet ] && echo kept || echo gone) opt:$([ -e /opt/fleet-agent ] && echo kept || echo gone) config:$([ -e /etc/fleet-agent/config.json ] && echo kept || echo gone) state:$([ -d $state ] && echo kept || echo gone)"
INSIDE
