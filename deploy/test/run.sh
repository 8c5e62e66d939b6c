#!/usr/bin/env bash
# `make test-deploy`: the Dockerfile and deploy/systemd/bounced.service, run for real on this machine.
#
#   1. A stand-in base image: debootstrap (minbase) of Debian bookworm from the mirror apt uses, with
#      python3.11, venv, pip, systemd and dbus, the host's extra CA certificates and the host's pip
#      setup (local package folders served on 127.0.0.1); `docker import`ed as BASE.
#   2. A private dockerd (own data, exec root, socket, pidfile; no bridge, no iptables): `docker build
#      --build-arg BASE=...`, then the container: migrate, run until its own HEALTHCHECK says healthy,
#      not root, a hard bounce published through moto's SNS ends suppressed, `docker stop` exits 0.
#   3. The same root filesystem booted under systemd-nspawn with /opt/bounced from the image and the
#      unit file verbatim: start reaches active, a bounce is applied, the main PID survives more than
#      WatchdogSec, no capabilities and NoNewPrivs, `systemctl stop` ends with Result=success.
#
# Needs root, and installs docker.io, debootstrap and systemd-container where missing. Networking is
# the host's (loopback only: moto, PostgreSQL at 127.0.0.1:5432 or BOUNCED_TEST_DSN's server), apart
# from the package mirrors apt and pip already use. Everything it makes lives in one temporary folder
# and goes, with the engine, the containers, the images, mounts and cgroups, whatever happens.
set -Eeuo pipefail

ROOT=$(cd "$(dirname "$0")/../.." && pwd)
export PATH=/usr/sbin:/usr/bin:/sbin:/bin:$PATH # Debian's docker before any other on PATH
PY=${PY:-$ROOT/.venv/bin/python}
ADMIN_DSN=${BOUNCED_TEST_DSN:-postgresql://postgres@127.0.0.1:5432/postgres}
SUITE=bookworm
PACKAGES=python3.11,python3-venv,python3-pip,python-is-python3,ca-certificates,systemd,systemd-sysv,dbus
# Units of the booted container that would touch the host's kernel settings or devices.
MASKED="systemd-sysctl.service systemd-udevd.service systemd-udev-trigger.service
systemd-udevd-control.socket systemd-udevd-kernel.socket systemd-modules-load.service
systemd-binfmt.service proc-sys-fs-binfmt_misc.automount proc-sys-fs-binfmt_misc.mount
kmod-static-nodes.service systemd-hwdb-update.service getty.target console-getty.service"
WATCHDOG_SEC=30
STARTED=$(date +%s)
STEP=setup
TAG=bounced-deploy-$$
BASE_IMAGE=$TAG-base:test
IMAGE=$TAG:test

log() { printf '[test-deploy %4ss] %s\n' "$(($(date +%s) - STARTED))" "$*" >&2; }
fail() {
    log "FAILED in step '$STEP': $*"
    exit 1
}
step() {
    STEP=$1
    log "== $1"
}

[ "$(id -u)" -eq 0 ] || { echo "test-deploy: run as root (dockerd, debootstrap, systemd-nspawn)" >&2; exit 2; }
[ -x "$PY" ] || { echo "test-deploy: $PY missing: run 'make .venv/.installed' first" >&2; exit 2; }

WORK=$(mktemp -d "${TMPDIR:-/tmp}/bounced-deploy.XXXXXX")
ROOTFS=$WORK/rootfs
DOCKER_DIR=$WORK/docker
CGROUP_PARENT=$TAG
PIDS=()
DSN=
NSPAWN_PID=
DOCKERD_PID=
DOCKER=(/usr/bin/docker --host "unix://$DOCKER_DIR/docker.sock")
export DOCKER_BUILDKIT=0 # the legacy builder is what Debian's docker.io ships

# Folders dockerd, containerd and systemd-nspawn make at fixed host paths whatever their roots; the
# cleanup removes those that were not there before.
FIXED_DIRS="/run/docker /run/containerd /run/systemd/nspawn"
CREATED_DIRS=()
for dir in $FIXED_DIRS; do [ -e "$dir" ] || CREATED_DIRS+=("$dir"); done

stop_pid() { # stop_pid PID SECONDS: SIGTERM, then SIGKILL after SECONDS
    kill -TERM "$1" 2>/dev/null || return 0
    for _ in $(seq $(($2 * 5))); do kill -0 "$1" 2>/dev/null || return 0; sleep 0.2; done
    kill -KILL "$1" 2>/dev/null
}

cleanup() {
    local rc=$?
    set +e
    trap - EXIT INT TERM
    log "cleaning up"
    # nspawn asks the container's systemd to power off on SIGTERM.
    [ -n "$NSPAWN_PID" ] && stop_pid "$NSPAWN_PID" 30 && wait "$NSPAWN_PID" 2>/dev/null
    if [ -S "$DOCKER_DIR/docker.sock" ]; then
        "${DOCKER[@]}" ps -aq | xargs -r "${DOCKER[@]}" rm -f >/dev/null
        "${DOCKER[@]}" image prune -af >/dev/null
    fi
    [ -f "$DOCKER_DIR/dockerd.pid" ] && stop_pid "$(cat "$DOCKER_DIR/dockerd.pid")" 30
    [ -n "$DOCKERD_PID" ] && wait "$DOCKERD_PID" 2>/dev/null
    for pid in "${PIDS[@]}"; do stop_pid "$pid" 10; wait "$pid" 2>/dev/null; done
    [ -n "$DSN" ] && "$PY" -m tests.deploy.loop drop-db "$ADMIN_DSN" "$DSN"
    # The engine's netns and overlay mounts, and anything the boot left, deepest first.
    findmnt -rn -o TARGET | grep -F "$WORK/" | sort -r | xargs -r -n1 umount -l 2>/dev/null
    for dir in /sys/fs/cgroup/"$CGROUP_PARENT" /sys/fs/cgroup/*/"$CGROUP_PARENT"; do
        [ -d "$dir" ] && find "$dir" -depth -type d -exec rmdir {} + 2>/dev/null
    done
    for dir in "${CREATED_DIRS[@]}"; do rm -rf "$dir"; done
    rm -rf "$WORK"
    local left
    left=$(findmnt -rn -o TARGET | grep -F "$WORK/"; ls -d /sys/fs/cgroup/"$CGROUP_PARENT" /sys/fs/cgroup/*/"$CGROUP_PARENT" 2>/dev/null)
    [ -z "$left" ] || { log "left behind: $left"; [ "$rc" -ne 0 ] || rc=1; }
    if [ "$rc" -eq 0 ]; then
        log "passed in $(($(date +%s) - STARTED)) s"
    else
        log "FAILED (exit $rc) after $(($(date +%s) - STARTED)) s; last step: $STEP"
    fi
    exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# Prints the logs of a failed part before failing.
show() {
    log "--- $1"
    tail -n "${2:-40}" "$1" >&2 || true
}

wait_for() { # wait_for SECONDS COMMAND...: true once COMMAND succeeds, false after SECONDS
    local seconds=$1
    shift
    for _ in $(seq $((seconds * 2))); do
        "$@" >/dev/null 2>&1 && return 0
        sleep 0.5
    done
    return 1
}

install_tools() {
    step "install docker.io, debootstrap, systemd-container where missing"
    local missing=()
    command -v dockerd >/dev/null && [ -x /usr/bin/docker ] || missing+=(docker.io)
    command -v debootstrap >/dev/null || missing+=(debootstrap)
    command -v systemd-nspawn >/dev/null || missing+=(systemd-container)
    [ ${#missing[@]} -eq 0 ] && return
    apt-get -o DPkg::Lock::Timeout=600 update -qq
    DEBIAN_FRONTEND=noninteractive apt-get -o DPkg::Lock::Timeout=600 install -y -qq \
        --no-install-recommends "${missing[@]}" >"$WORK/apt.log" 2>&1 || { show "$WORK/apt.log"; fail "apt-get install ${missing[*]}"; }
}

# The first http(s) URI of a deb source for Debian itself, as apt is configured here.
debian_mirror() {
    local uri
    uri=$(cat /etc/apt/sources.list /etc/apt/sources.list.d/*.list 2>/dev/null |
        awk '$1 == "deb" && $0 ~ / bookworm / && $0 !~ /security/ { for (i = 2; i <= NF; i++) if ($i ~ /^https?:/) { print $i; exit } }')
    if [ -z "$uri" ]; then
        uri=$(cat /etc/apt/sources.list.d/*.sources 2>/dev/null | awk '
            /^$/ { if (uris != "" && suites ~ /(^| )bookworm( |$)/) { print uris; exit } uris = ""; suites = "" }
            /^URIs:/ { uris = $2 } /^Suites:/ { $1 = ""; suites = $0 }
            END { if (uris != "" && suites ~ /(^| )bookworm( |$)/) print uris }' | head -n1)
    fi
    [ -n "$uri" ] || { log "no Debian bookworm mirror in /etc/apt/sources.list{,.d}"; return 1; }
    echo "$uri"
}

start_aws() {
    step "moto on 127.0.0.1, a fresh database, bounced provision"
    local port
    port=$("$PY" -m tests.deploy.loop free-port)
    ENDPOINT=http://127.0.0.1:$port
    "$ROOT/.venv/bin/moto_server" -H 127.0.0.1 -p "$port" >"$WORK/moto.log" 2>&1 &
    PIDS+=($!)
    wait_for 30 curl -fsS "$ENDPOINT/moto-api/" || { show "$WORK/moto.log"; fail "moto at $ENDPOINT: not up in 30 s"; }
    DSN=$("$PY" -m tests.deploy.loop create-db "$ADMIN_DSN") || fail "cannot create a database on $ADMIN_DSN"
    export AWS_ACCESS_KEY_ID=testing AWS_SECRET_ACCESS_KEY=testing AWS_REGION=us-east-1 AWS_ENDPOINT_URL=$ENDPOINT
    "$ROOT/.venv/bin/bounced" provision --prefix "$TAG" >"$WORK/provision.env" || fail "bounced provision"
    BOUNCE_TOPIC=$(awk -F= '$1 == "BOUNCED_ALLOWED_TOPIC_ARNS" { split($2, arns, ","); print arns[1] }' "$WORK/provision.env")
    case $BOUNCE_TOPIC in *-bounces) ;; *) fail "no bounce topic in: $(cat "$WORK/provision.env")" ;; esac
    HTTP_PORT=$("$PY" -m tests.deploy.loop free-port)
    {
        cat "$WORK/provision.env"
        echo "BOUNCED_DATABASE_URL=$DSN"
        echo "BOUNCED_HTTP_ADDR=127.0.0.1:$HTTP_PORT"
        # moto signs with a certificate URL no one can fetch.
        echo "BOUNCED_VERIFY_SIGNATURES=false"
        echo "BOUNCED_WAIT_TIME_SECONDS=5"
        echo "BOUNCED_LOG_FORMAT=json"
        echo "AWS_REGION=us-east-1"
        echo "AWS_ACCESS_KEY_ID=testing"
        echo "AWS_SECRET_ACCESS_KEY=testing"
        echo "AWS_ENDPOINT_URL=$ENDPOINT"
    } >"$WORK/bounced.env"
}

build_rootfs() {
    local mirror
    mirror=$(debian_mirror)
    step "debootstrap $SUITE (minbase) from $mirror"
    debootstrap --variant=minbase --include="$PACKAGES" "$SUITE" "$ROOTFS" "$mirror" \
        >"$WORK/debootstrap.log" 2>&1 || { show "$WORK/debootstrap.log"; fail "debootstrap"; }
    # The host's extra CA certificates (a TLS-inspecting egress, a company CA) and pip set up as the
    # host has it: its local package folders are served on loopback (a build cannot mount them).
    if compgen -G "/usr/local/share/ca-certificates/*.crt" >/dev/null; then
        cp /usr/local/share/ca-certificates/*.crt "$ROOTFS/usr/local/share/ca-certificates/"
        chroot "$ROOTFS" update-ca-certificates >"$WORK/ca.log" 2>&1 || { show "$WORK/ca.log"; fail "update-ca-certificates"; }
    fi
    local port
    port=$("$PY" -m tests.deploy.loop free-port)
    mkdir -p "$WORK/serve"
    "$PY" -m tests.deploy.loop pip-config "$WORK/serve" "http://127.0.0.1:$port" "$ROOTFS" >"$ROOTFS/etc/pip.conf" ||
        fail "reading the host's pip configuration"
    "$PY" -m http.server --bind 127.0.0.1 --directory "$WORK/serve" "$port" >"$WORK/serve.log" 2>&1 &
    PIDS+=($!)
    wait_for 30 curl -fsS "http://127.0.0.1:$port/" || { show "$WORK/serve.log"; fail "file server on 127.0.0.1:$port: not up"; }
    log "pip in the image: $(tr '\n' ' ' <"$ROOTFS/etc/pip.conf")"
    echo "bounced-deploy" >"$ROOTFS/etc/hostname"
    rm -f "$ROOTFS/etc/machine-id" && : >"$ROOTFS/etc/machine-id"
}

start_dockerd() {
    step "dockerd (own roots and socket, no bridge, no iptables)"
    mkdir -p "$DOCKER_DIR"
    dockerd --data-root "$DOCKER_DIR/data" --exec-root "$DOCKER_DIR/exec" \
        --host "unix://$DOCKER_DIR/docker.sock" --pidfile "$DOCKER_DIR/dockerd.pid" \
        --bridge=none --iptables=false --ip-masq=false --cgroup-parent "/$CGROUP_PARENT" \
        >"$WORK/dockerd.log" 2>&1 &
    DOCKERD_PID=$!
    wait_for 60 "${DOCKER[@]}" version || { show "$WORK/dockerd.log"; fail "dockerd: no answer in 60 s"; }
}

build_image() {
    step "docker import the base, docker build the image"
    tar -C "$ROOTFS" -c . | "${DOCKER[@]}" import - "$BASE_IMAGE" >/dev/null || fail "docker import"
    "${DOCKER[@]}" build --network host --build-arg "BASE=$BASE_IMAGE" -t "$IMAGE" "$ROOT" \
        >"$WORK/build.log" 2>&1 || { show "$WORK/build.log"; fail "docker build"; }
}

container_health() { [ "$("${DOCKER[@]}" inspect -f '{{.State.Health.Status}}' "$1")" = healthy ]; }

test_container() {
    step "container: migrate, run until healthy, a bounce, docker stop"
    "${DOCKER[@]}" run --rm --network host --env-file "$WORK/bounced.env" "$IMAGE" migrate ||
        fail "bounced migrate in the container"
    "${DOCKER[@]}" run -d --name "$TAG" --network host --stop-timeout 60 \
        --env-file "$WORK/bounced.env" "$IMAGE" >/dev/null
    wait_for 120 container_health "$TAG" ||
        { "${DOCKER[@]}" logs "$TAG" 2>&1 | tail -n 30 >&2; fail "not healthy by its own HEALTHCHECK in 120 s"; }
    local pid uid
    pid=$("${DOCKER[@]}" inspect -f '{{.State.Pid}}' "$TAG")
    uid=$(awk '/^Uid:/ { print $2 }' "/proc/$pid/status")
    [ "$uid" = 10001 ] || fail "the daemon runs as uid $uid, not 10001"
    "$PY" -m tests.deploy.loop bounce "$ENDPOINT" "$BOUNCE_TOPIC" "$DSN" ||
        { "${DOCKER[@]}" logs "$TAG" 2>&1 | tail -n 30 >&2; fail "bounce not applied by the container"; }
    "${DOCKER[@]}" stop "$TAG" >/dev/null
    local code
    code=$("${DOCKER[@]}" inspect -f '{{.State.ExitCode}}' "$TAG")
    [ "$code" = 0 ] || { "${DOCKER[@]}" logs "$TAG" 2>&1 | tail -n 30 >&2; fail "docker stop: exit $code"; }
    log "container: healthy, uid 10001, bounce suppressed, stopped with exit 0"
}

in_container() { nsenter -t "$LEADER" -a "$@"; }
unit() { in_container systemctl show -P "$1" bounced.service; }

boot_container() {
    step "boot the root filesystem under systemd-nspawn"
    local id
    id=$("${DOCKER[@]}" create "$IMAGE")
    "${DOCKER[@]}" cp "$id:/opt/bounced" "$ROOTFS/opt/bounced"
    "${DOCKER[@]}" rm "$id" >/dev/null
    ln -sf /opt/bounced/bin/bounced "$ROOTFS/usr/local/bin/bounced"
    install -D -m 0644 "$ROOT/deploy/systemd/bounced.service" "$ROOTFS/etc/systemd/system/bounced.service"
    install -D -m 0640 "$WORK/bounced.env" "$ROOTFS/etc/bounced/bounced.env"
    for name in $MASKED; do ln -sf /dev/null "$ROOTFS/etc/systemd/system/$name"; done
    # --keep-unit runs the container in nspawn's own cgroup (no systemd on the host to ask for a
    # scope): give it one of ours, which the cleanup removes.
    local groups=()
    for hierarchy in /sys/fs/cgroup/systemd /sys/fs/cgroup/unified; do
        [ -d "$hierarchy" ] && mkdir -p "$hierarchy/$CGROUP_PARENT" && groups+=("$hierarchy/$CGROUP_PARENT/cgroup.procs")
    done
    [ -f /sys/fs/cgroup/cgroup.controllers ] && mkdir -p "/sys/fs/cgroup/$CGROUP_PARENT" &&
        groups=("/sys/fs/cgroup/$CGROUP_PARENT/cgroup.procs")
    sh -c 'rootfs=$1 name=$2; shift 2; for procs in "$@"; do echo $$ >"$procs"; done
        exec systemd-nspawn --quiet --register=no --keep-unit -D "$rootfs" -M "$name" -b' \
        sh "$ROOTFS" "$TAG" "${groups[@]}" </dev/null >"$WORK/nspawn.log" 2>&1 &
    NSPAWN_PID=$!
    wait_for 30 pgrep -P "$NSPAWN_PID" || { show "$WORK/nspawn.log"; fail "systemd-nspawn started no init"; }
    LEADER=$(pgrep -P "$NSPAWN_PID" | head -n1)
    local state
    for _ in $(seq 120); do
        state=$(in_container systemctl is-system-running 2>/dev/null || true)
        case $state in running | degraded) break ;; esac
        sleep 0.5
    done
    case $state in
        running) ;;
        degraded) log "booted degraded: $(in_container systemctl --failed --plain --no-legend | tr '\n' ';')" ;;
        *) show "$WORK/nspawn.log"; fail "boot: $state" ;;
    esac
}

test_unit() {
    step "unit: start, a bounce, the watchdog, hardening, stop"
    in_container systemctl start bounced.service || {
        in_container journalctl -u bounced.service --no-pager -n 30 >&2; fail "systemctl start"; }
    [ "$(unit ActiveState)" = active ] || fail "not active after start: $(unit ActiveState)"
    local pid
    pid=$(unit MainPID)
    local status
    status=$(in_container cat "/proc/$pid/status")
    grep -Eq '^CapEff:[[:space:]]+0+$' <<<"$status" || fail "capabilities in force: $(grep ^Cap <<<"$status")"
    grep -Eq '^NoNewPrivs:[[:space:]]+1$' <<<"$status" || fail "NoNewPrivs is not 1"
    grep -Eq '^Uid:[[:space:]]+0[[:space:]]' <<<"$status" && fail "the daemon runs as root"
    "$PY" -m tests.deploy.loop bounce "$ENDPOINT" "$BOUNCE_TOPIC" "$DSN" || {
        in_container journalctl -u bounced.service --no-pager -n 30 >&2; fail "bounce not applied by the unit"; }
    log "unit: active, bounce suppressed; waiting past WatchdogSec=${WATCHDOG_SEC}s"
    sleep $((WATCHDOG_SEC + 5))
    [ "$(unit MainPID)" = "$pid" ] || fail "main PID changed ($pid -> $(unit MainPID)): watchdog restart?"
    [ "$(unit NRestarts)" = 0 ] || fail "NRestarts=$(unit NRestarts)"
    in_container systemctl stop bounced.service
    [ "$(unit Result)" = success ] || {
        in_container journalctl -u bounced.service --no-pager -n 30 >&2; fail "stop: Result=$(unit Result)"; }
    log "unit: no capabilities, NoNewPrivs, same PID after the watchdog period, Result=success"
}

main() {
    install_tools
    start_aws
    build_rootfs
    start_dockerd
    build_image
    test_container
    boot_container
    test_unit
}

main
