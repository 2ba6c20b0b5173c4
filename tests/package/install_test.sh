#!/usr/bin/env bash
# Installs the omnigate .deb into a freshly debootstrapped Debian 12 (bookworm) and runs it there,
# the way an admin would: `apt-get install ./omnigate_*.deb` pulls the Depends, then the account,
# directories, files and conffiles must be in place, and omnigated must start on the sample
# config as installed, answer /healthz and /readyz, and exit 0 on SIGTERM. Finally remove keeps
# the data and purge deletes it.
#
# Usage: tests/package/install_test.sh BUILD_DIR|PACKAGE.deb
# Needs root (debootstrap, chroot, mount), debootstrap, unshare and ip (iproute2), curl, and
# Debian's mirror, taken from this machine's apt sources (or $OMNIGATE_DEBIAN_MIRROR). The
# chroot lives in a temporary directory beside the package, or under $OMNIGATE_PACKAGE_TMP;
# downloaded packages are kept in <that directory>/debootstrap-cache for the next run.
# Exit status: 0 pass, 1 fail, 77 skipped (not root or a tool is missing).
# '${Conffiles}' and the like below are dpkg-query formats, not shell expansions.
# shellcheck disable=SC2016
set -euo pipefail

started=$(date +%s)
phase_started=$started
phase() {
  local now
  now=$(date +%s)
  echo "install_test: [$((now - started))s, previous step $((now - phase_started))s] $*"
  phase_started=$now
}
fail() {
  echo "install_test: FAIL: $*" >&2
  exit 1
}
skip() {
  echo "install_test: SKIP: $*" >&2
  exit 77
}

[[ $# -eq 1 ]] || { sed -n '8p' "$0" >&2; exit 2; }
if [[ -d $1 ]]; then
  shopt -s nullglob
  debs=("$1"/omnigate_*.deb)
  shopt -u nullglob
  [[ ${#debs[@]} -eq 1 ]] || fail "expected one omnigate_*.deb in $1, found ${#debs[@]}"
  deb=${debs[0]}
else
  deb=$1
fi
[[ -f $deb ]] || fail "no package at $deb"
deb=$(realpath "$deb")

[[ $(id -u) -eq 0 ]] || skip "needs root (debootstrap, chroot, mount)"
for tool in debootstrap unshare ip curl chroot mount umount; do
  command -v "$tool" >/dev/null || skip "$tool is not installed"
done

# The mirror apt uses here: the first Debian source (one-line or deb822) serving bookworm main.
mirror_for() {  # $1: suite
  python3 - "$1" <<'PYTHON'
import glob, sys
suite = sys.argv[1]
stanzas = []
for path in ["/etc/apt/sources.list"] + sorted(glob.glob("/etc/apt/sources.list.d/*.list")):
    try:
        lines = open(path, encoding="utf-8").read().splitlines()
    except OSError:
        continue
    for line in lines:
        words = line.split("#", 1)[0].split()
        if len(words) >= 4 and words[0] == "deb":
            if words[1].startswith("["):  # options such as [signed-by=...]
                while words and not words[0].endswith("]"):
                    words.pop(0)
                words = ["deb"] + words[1:]
            stanzas.append({"types": ["deb"], "uris": [words[1]], "suites": [words[2]],
                            "components": words[3:]})
for path in sorted(glob.glob("/etc/apt/sources.list.d/*.sources")):
    try:
        text = open(path, encoding="utf-8").read()
    except OSError:
        continue
    for block in text.split("\n\n"):
        fields = {}
        for line in block.splitlines():
            if line.startswith("#") or ":" not in line or line[0].isspace():
                continue
            key, value = line.split(":", 1)
            fields[key.strip().lower()] = value.split()
        if fields.get("enabled", ["yes"])[0] == "no":
            continue
        stanzas.append(fields)
for fields in stanzas:
    if ("deb" in fields.get("types", []) and suite in fields.get("suites", [])
            and "main" in fields.get("components", [])):
        print(fields["uris"][0])
        break
PYTHON
}
mirror=${OMNIGATE_DEBIAN_MIRROR:-$(mirror_for bookworm)}
[[ -n $mirror ]] || skip "no Debian bookworm main source in /etc/apt/sources.list*"
security=$(mirror_for bookworm-security)
updates=$(mirror_for bookworm-updates)

base=${OMNIGATE_PACKAGE_TMP:-$(dirname "$deb")}
mkdir -p "$base/debootstrap-cache"
work=$(mktemp -d "$base/install-test.XXXXXX")
root=$work/root
daemon_pid=""

# Every exit path: stop the daemon, unmount whatever is mounted under the chroot (debootstrap's
# own /proc and /sys too, should it have failed half-way), and delete the chroot only when
# nothing is mounted in it any more (rm -rf through a /dev bind mount would empty the host's).
cleanup() {
  local status=$?
  set +e
  if [[ -n $daemon_pid ]] && kill -0 "$daemon_pid" 2>/dev/null; then
    kill -KILL "$daemon_pid"
    wait "$daemon_pid" 2>/dev/null
  fi
  local mounts
  mapfile -t mounts < <(awk -v r="$root/" 'index($2, r) == 1 { print $2 }' /proc/self/mounts |
                        sort -r)
  for m in "${mounts[@]}"; do
    umount "$m" 2>/dev/null || umount -l "$m"
  done
  if awk -v r="$root/" 'index($2, r) == 1 { found = 1 } END { exit !found }' /proc/self/mounts
  then
    echo "install_test: mounts remain under $root; not deleting it" >&2
  elif [[ ${OMNIGATE_KEEP_CHROOT:-0} == 1 ]]; then
    echo "install_test: chroot kept in $root"
  else
    rm -rf "$work"
  fi
  phase "done, exit status $status"
  exit "$status"
}
trap cleanup EXIT
trap 'exit 1' INT TERM HUP

in_root() { chroot "$root" /usr/bin/env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin \
  DEBIAN_FRONTEND=noninteractive LC_ALL=C.UTF-8 "$@"; }

phase "package $(basename "$deb"), mirror $mirror, chroot in $root"
debootstrap --variant=minbase --cache-dir="$(realpath "$base/debootstrap-cache")" \
  bookworm "$root" "$mirror" >"$work/debootstrap.log" 2>&1 ||
  { tail -20 "$work/debootstrap.log" >&2; fail "debootstrap"; }
phase "debootstrap bookworm minbase"

mount -t proc proc "$root/proc"
mount --bind /dev "$root/dev"
cp /etc/resolv.conf "$root/etc/resolv.conf"
{
  echo "deb $mirror bookworm main"
  [[ -z $updates ]] || echo "deb $updates bookworm-updates main"
  [[ -z $security ]] || echo "deb $security bookworm-security main"
} >"$root/etc/apt/sources.list"
cp "$deb" "$root/tmp/"
in_root apt-get update -qq >"$work/apt.log" 2>&1 ||
  { cat "$work/apt.log" >&2; fail "apt-get update"; }
in_root apt-get install -y -q "/tmp/$(basename "$deb")" >>"$work/apt.log" 2>&1 ||
  { tail -40 "$work/apt.log" >&2; fail "apt-get install ./$(basename "$deb")"; }
grep -E "^(Setting up|Unpacking) omnigate" "$work/apt.log" || true
phase "apt-get install ./$(basename "$deb") (with its Depends)"

# --- what the package left on the system ------------------------------------------------------
check_mode() {  # path mode owner:group
  local got
  got=$(in_root stat -c '%a %U:%G' "$1") || fail "$1 is missing"
  [[ $got == "$2 $3" ]] || fail "$1 is '$got', expected '$2 $3'"
  echo "install_test: ok $1 $got"
}
in_root getent passwd omnigate || fail "no omnigate account"
echo "install_test: postinst made it with" \
  "$(in_root sh -c 'command -v systemd-sysusers || echo "adduser (no systemd)"')"
shell=$(in_root getent passwd omnigate | cut -d: -f7)
[[ $shell == */nologin ]] || fail "omnigate's shell is $shell, not nologin"
check_mode /var/lib/omnigate 700 omnigate:omnigate
check_mode /run/omnigate 750 omnigate:omnigate
check_mode /etc/omnigate 755 root:root
check_mode /etc/omnigate/omnigate.toml 644 root:root
check_mode /usr/sbin/omnigated 755 root:root
for f in /usr/bin/omnigatectl /lib/systemd/system/omnigated.service \
    /lib/systemd/system/omnigated.socket /usr/lib/sysusers.d/omnigate.conf \
    /usr/lib/tmpfiles.d/omnigate.conf /etc/omnigate/templates/order_shipped/default/email.subject \
    /usr/lib/omnigate/plugins/omnigate_example_plugin.so /usr/share/doc/omnigate/README.md \
    /usr/share/doc/omnigate/API.md; do
  [[ -f $root$f ]] || fail "$f is not installed"
done
conffiles=$(in_root dpkg-query -W -f='${Conffiles}' omnigate)
grep -q '^ /etc/omnigate/omnigate.toml ' <<<"$conffiles" || fail "omnigate.toml is no conffile"
grep -q '^ /etc/omnigate/templates/' <<<"$conffiles" || fail "the templates are no conffiles"
echo "install_test: ok conffiles: $(wc -l <<<"$conffiles")"
# No library or plugin is looked up in the build tree: no RPATH/RUNPATH, every library resolved.
if readelf -d "$root/usr/sbin/omnigated" | grep -E 'R(UN)?PATH'; then
  fail "omnigated carries an RPATH"
fi
if in_root ldd /usr/sbin/omnigated | grep 'not found'; then
  fail "omnigated needs a library that the package's Depends did not bring"
fi
in_root dpkg-query -W -f='${Depends}\n' omnigate
[[ $(in_root dpkg-query -W -f='${Status}' libphonenumber8) == "install ok installed" ]] ||
  fail "the Depends did not bring libphonenumber8"
phase "files, account, directories, conffiles"

# --- run it as installed ------------------------------------------------------------------
as_omnigate=(setpriv --reuid=omnigate --regid=omnigate --init-groups --)
in_root "${as_omnigate[@]}" /usr/sbin/omnigated --config /etc/omnigate/omnigate.toml \
  --check-config || fail "--check-config on the sample config"

# A network namespace of its own, so the sample config's fixed 127.0.0.1:7447 cannot collide
# with anything on this machine; curl runs in it through nsenter.
unshare --net -- sh -c 'ip link set lo up && exec "$@"' sh \
  chroot "$root" /usr/bin/env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin "${as_omnigate[@]}" \
  /usr/sbin/omnigated --config /etc/omnigate/omnigate.toml >"$work/omnigated.log" 2>&1 &
daemon_pid=$!
in_ns() { nsenter --net="/proc/$daemon_pid/ns/net" "$@"; }
code=""
for _ in $(seq 1 100); do
  kill -0 "$daemon_pid" 2>/dev/null || { cat "$work/omnigated.log" >&2; fail "omnigated died"; }
  code=$(in_ns curl -s -o /dev/null -w '%{http_code}' http://127.0.0.1:7447/healthz || true)
  [[ $code == 200 ]] && break
  sleep 0.2
done
[[ $code == 200 ]] || { cat "$work/omnigated.log" >&2; fail "/healthz answered '$code'"; }
phase "omnigated started"
for path in /healthz /readyz; do
  code=$(in_ns curl -s -o /dev/null -w '%{http_code}' "http://127.0.0.1:7447$path")
  [[ $code == 200 ]] || fail "GET $path over TCP answered $code"
  code=$(curl -s -o /dev/null -w '%{http_code}' --unix-socket "$root/run/omnigate/api.sock" \
    "http://omnigate$path")
  [[ $code == 200 ]] || fail "GET $path over the Unix socket answered $code"
  echo "install_test: ok GET $path: 200 over TCP and the Unix socket"
done
code=$(in_ns curl -s -o /dev/null -w '%{http_code}' -H 'Authorization: Bearer wrong' \
  http://127.0.0.1:7447/v1/stats)
[[ $code == 401 ]] || fail "GET /v1/stats with a wrong token answered $code, expected 401"
owner=$(in_root stat -c '%U:%G' /var/lib/omnigate/omnigate.db) || fail "no database was created"
[[ $owner == omnigate:omnigate ]] || fail "the database is owned by $owner"

kill -TERM "$daemon_pid"
status=0
wait "$daemon_pid" || status=$?
daemon_pid=""
[[ $status == 0 ]] || { cat "$work/omnigated.log" >&2; fail "omnigated exited $status on SIGTERM"; }
echo "install_test: ok omnigated exited 0 on SIGTERM"
phase "omnigated ran and stopped"

# --- remove keeps the data, purge deletes it ----------------------------------------------
in_root apt-get remove -y -q omnigate >>"$work/apt.log" 2>&1 || fail "apt-get remove"
[[ ! -e $root/usr/sbin/omnigated ]] || fail "remove left /usr/sbin/omnigated"
[[ -f $root/var/lib/omnigate/omnigate.db ]] || fail "remove deleted the database"
[[ -f $root/etc/omnigate/omnigate.toml ]] || fail "remove deleted the conffile"
in_root apt-get purge -y -q omnigate >>"$work/apt.log" 2>&1 || fail "apt-get purge"
[[ ! -e $root/var/lib/omnigate ]] || fail "purge left /var/lib/omnigate"
[[ ! -e $root/etc/omnigate/omnigate.toml ]] || fail "purge left the conffile"
echo "install_test: ok remove keeps /var/lib/omnigate, purge deletes it"
phase "remove and purge"
echo "install_test: PASS"
