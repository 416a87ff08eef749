#!/usr/bin/env bash
# The test rig: real Podman and Docker engines, and a real registry with htpasswd auth, all on
# sockets and loopback ports owned by this run (see ../shared/docs/container-engines.md).
#   engines.sh start [podman]  start what is not running yet (idempotent), import test images,
#                      write $CD_RIG_DIR/env with the CD_TEST_* variables; with `podman`,
#                      only the registry-free Podman engine (what the demo needs)
#   engines.sh stop    stop everything it started, by pid
#   engines.sh status
# Images are kept between runs (they live in the engines' storage), so a second start is fast.
set -euo pipefail

HERE=$(cd "$(dirname "$0")" && pwd)
RIG=${CD_RIG_DIR:-/run/conductor-test}
STATE=${CD_RIG_STATE:-/var/lib/conductor-test}
REG_USER=conductor
REG_PASS=rig-registry-pass-$(hostname | md5sum | cut -c1-8)
mkdir -p "$RIG" "$STATE"
chmod 0700 "$RIG"

log() { echo "rig: $*" >&2; }

alive() { [ -f "$1" ] && kill -0 "$(cat "$1")" 2>/dev/null; }

wait_sock() { # wait_sock <socket> <name> <pidfile>
    for _ in $(seq 1 150); do
        if curl -sf --unix-socket "$1" http://d/version >/dev/null 2>&1; then return 0; fi
        if ! alive "$3"; then break; fi
        sleep 0.2
    done
    log "$2 did not come up; its log:"
    tail -20 "$RIG/$2.log" >&2 || true
    return 1
}

free_port() {
    python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'
}

start_registry() {
    if alive "$RIG/registry.pid"; then return; fi
    local port
    port=$(free_port)
    htpasswd -Bbn "$REG_USER" "$REG_PASS" >"$RIG/htpasswd"
    cat >"$RIG/registry.yml" <<EOF
version: 0.1
log: {level: warn}
storage:
  filesystem: {rootdirectory: $STATE/registry}
http: {addr: 127.0.0.1:$port}
auth:
  htpasswd: {realm: conductor-test, path: $RIG/htpasswd}
EOF
    docker-registry serve "$RIG/registry.yml" >"$RIG/registry.log" 2>&1 &
    echo $! >"$RIG/registry.pid"
    echo "127.0.0.1:$port" >"$RIG/registry.addr"
    for _ in $(seq 1 50); do
        code=$(curl -s -o /dev/null -w '%{http_code}' "http://127.0.0.1:$port/v2/" || true)
        [ "$code" = 401 ] && return 0
        sleep 0.1
    done
    log "registry did not come up"; tail "$RIG/registry.log" >&2; return 1
}

# Podman records each container's and volume's lock number in its database, and the locks
# themselves live in shared memory. When the shared memory went away (cleared /dev/shm) but
# Podman's tmpdir did not, Podman does not see a reboot and hands out lock numbers its kept
# volumes still hold: starting a job container then fails with "share lock ID 2: deadlock due
# to lock mismatch" (seen in a run after the demo's cache volume had outlived /dev/shm).
# Renumbering gives every kept object a fresh lock; it is safe only while no Podman runs, so
# it is done here, before the service starts, and only when the locks are gone.
renumber_podman_locks() {
    local shm=/dev/shm/libpod_lock
    [ "$(id -u)" = 0 ] || shm=/dev/shm/libpod_rootless_lock_$(id -u)
    [ ! -e "$shm" ] || return 0
    log "podman's lock memory $shm is gone: renumbering the locks of kept containers and volumes"
    CONTAINERS_CONF=$RIG/containers.conf podman system renumber >>"$RIG/podman.log" 2>&1 ||
        log "podman system renumber failed (see $RIG/podman.log)"
}

start_podman() {
    local reg
    reg=$(cat "$RIG/registry.addr")
    # crun refuses cgroups in hybrid mode here; runc works. Default ulimits exceed the hard
    # limit, so pin them. netavark explicitly: a host with CNI state would otherwise pick CNI.
    # Our own files, so the machine's /etc stays untouched.
    cat >"$RIG/containers.conf" <<EOF
[containers]
default_ulimits = ["nofile=1024:1024", "nproc=1024:1024"]
[engine]
runtime = "runc"
[network]
# aardvark-dns answers service aliases on per-job networks; CNI would need a dnsname plugin
network_backend = "netavark"
EOF
    cat >"$RIG/registries.conf" <<EOF
unqualified-search-registries = []
[[registry]]
location = "$reg"
insecure = true
EOF
    if alive "$RIG/podman.pid" && [ "$(cat "$RIG/podman.reg" 2>/dev/null)" = "$reg" ]; then return; fi
    stop_one podman
    rm -f "$RIG/podman.sock"
    renumber_podman_locks
    CONTAINERS_CONF=$RIG/containers.conf CONTAINERS_REGISTRIES_CONF=$RIG/registries.conf \
        podman system service --time=0 "unix://$RIG/podman.sock" >"$RIG/podman.log" 2>&1 &
    echo $! >"$RIG/podman.pid"
    echo "$reg" >"$RIG/podman.reg"
    wait_sock "$RIG/podman.sock" podman "$RIG/podman.pid"
}

# dockerd also listens on a loopback TCP port with TLS, as a remote engine is reached
# (tcp:// + DOCKER_CERT_PATH layout): its own throwaway CA, a server certificate for
# 127.0.0.1, and a client certificate it requires (--tlsverify). The unix socket stays plain.
start_docker() {
    if alive "$RIG/docker.pid" && [ -S "$RIG/docker.sock" ] && [ -s "$RIG/docker.tls" ]; then
        return
    fi
    stop_one docker
    rm -f "$RIG/docker.sock" "$RIG/docker.tls"
    mkdir -p "$STATE/docker"
    local tls=$RIG/docker-tls port
    rm -rf "$tls"
    "$HERE/../engine/make_certs.sh" "$tls"
    port=$(free_port)
    # No bridge without iptables here; vfs works on any filesystem. Loopback registries are
    # insecure by default for dockerd, so the test registry needs no flag.
    dockerd --host "unix://$RIG/docker.sock" --host "tcp://127.0.0.1:$port" \
        --tlsverify --tlscacert "$tls/ca.pem" --tlscert "$tls/server.pem" \
        --tlskey "$tls/server-key.pem" --iptables=false --bridge=none \
        --storage-driver=vfs --data-root "$STATE/docker" --exec-root "$RIG/docker-exec" \
        --pidfile "$RIG/dockerd.pid" >"$RIG/dockerd.log" 2>&1 &
    # $! is dockerd itself. Its own --pidfile is dockerd's alone: dockerd refuses to start
    # when that file names a live process, and writing it for dockerd while a slow (busy)
    # dockerd was still starting made it exit ("pid file found").
    echo $! >"$RIG/docker.pid"
    wait_sock "$RIG/docker.sock" dockerd "$RIG/docker.pid"
    curl -sf --cacert "$tls/ca.pem" --cert "$tls/cert.pem" --key "$tls/key.pem" \
        "https://127.0.0.1:$port/version" >/dev/null ||
        { log "dockerd's TLS listener on 127.0.0.1:$port does not answer"; return 1; }
    echo "tcp://127.0.0.1:$port" >"$RIG/docker.tls"
}

# import <socket> <repo> <tag> <tarball>: via the Engine API, so both engines are treated alike
import_image() {
    local sock=$1 repo=$2 tag=$3 tar=$4
    if curl -sf --unix-socket "$sock" "http://d/v1.41/images/$repo:$tag/json" >/dev/null; then
        return
    fi
    curl -sf --unix-socket "$sock" -X POST -H 'Content-Type: application/x-tar' \
        --data-binary @"$tar" "http://d/v1.41/images/create?fromSrc=-&repo=$repo&tag=$tag" >/dev/null
    # Podman 4.3's compat import ignores `tag` and names the image :latest; tag it as asked.
    if ! curl -sf --unix-socket "$sock" "http://d/v1.41/images/$repo:$tag/json" >/dev/null; then
        curl -sf --unix-socket "$sock" -X POST \
            "http://d/v1.41/images/$repo:latest/tag?repo=$repo&tag=$tag" >/dev/null
    fi
}

make_rootfs_tars() {
    if [ -f "$STATE/busybox.tar" ] && [ -f "$STATE/bash.tar" ]; then return; fi
    local root
    root=$(mktemp -d)
    mkdir -p "$root/bin" "$root/tmp" "$root/etc" "$root/root"
    cp /bin/busybox "$root/bin/"
    for c in $("$root/bin/busybox" --list); do
        [ -e "$root/bin/$c" ] || ln -s busybox "$root/bin/$c"
    done
    echo 'root:x:0:0:root:/root:/bin/sh' >"$root/etc/passwd"
    echo 'root:x:0:' >"$root/etc/group"
    chmod 1777 "$root/tmp"
    tar -C "$root" -cf "$STATE/busybox.tar" .
    cp /bin/bash-static "$root/bin/bash"
    tar -C "$root" -cf "$STATE/bash.tar" .
    rm -rf "$root"
}

push_registry_image() {
    local reg
    reg=$(cat "$RIG/registry.addr")
    if skopeo inspect --tls-verify=false --creds "$REG_USER:$REG_PASS" \
        "docker://$reg/conductor/busybox:1" >/dev/null 2>&1; then return; fi
    CONTAINERS_CONF=$RIG/containers.conf CONTAINERS_REGISTRIES_CONF=$RIG/registries.conf \
        podman push --quiet --tls-verify=false --creds "$REG_USER:$REG_PASS" \
        localhost/busybox:test "docker://$reg/conductor/busybox:1" >/dev/null
}

write_env() {
    cat >"$RIG/env" <<EOF
export CD_RIG_DIR=$RIG
export CD_TEST_PODMAN_SOCKET=$RIG/podman.sock
export CD_TEST_DOCKER_SOCKET=$RIG/docker.sock
export CD_TEST_DOCKER_TLS=$(cat "$RIG/docker.tls" 2>/dev/null)
export CD_TEST_DOCKER_TLS_CERTS=$RIG/docker-tls
export CD_TEST_REGISTRY=$(cat "$RIG/registry.addr")
export CD_TEST_REGISTRY_USER=$REG_USER
export CD_TEST_REGISTRY_PASSWORD=$REG_PASS
export CD_TEST_IMAGE_BUSYBOX=localhost/busybox:test
export CD_TEST_IMAGE_BASH=localhost/bash:test
EOF
}

stop_one() {
    local name=$1 pidf="$RIG/$1.pid"
    if alive "$pidf"; then
        local pid
        pid=$(cat "$pidf")
        kill "$pid" 2>/dev/null || true
        for _ in $(seq 1 100); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
        kill -9 "$pid" 2>/dev/null || true
    fi
    rm -f "$pidf"
    [ "$name" != docker ] || rm -f "$RIG/dockerd.pid" "$RIG/dockerd.pid.launcher" "$RIG/docker.tls"
}

# Podman keeps the conmon of every exec session made through its API alive for its
# exit_command_delay (5 minutes) after the session ends (podman#15377, #20415), also when the
# container is removed meanwhile: a suite run leaves ~80. One whose bundle directory is gone
# serves nothing, so it is ended here; a conmon whose container still exists is left alone.
reap_orphan_conmon() {
    local p bundle n=0
    for p in $(pgrep -x conmon); do
        # a conmon may exit between pgrep and here: its /proc entry is then gone
        bundle=$(tr '\0' '\n' 2>/dev/null <"/proc/$p/cmdline" |
            awk 'prev == "-b" { print; exit } { prev = $0 }') || bundle=""
        if [ -n "$bundle" ] && [ ! -d "$bundle" ]; then
            kill "$p" 2>/dev/null && n=$((n + 1))
        fi
    done
    [ "$n" -eq 0 ] || log "ended $n orphaned conmon processes (their containers are gone)"
}

cmd=${1:-status}
case "$cmd" in
start)
    command -v podman >/dev/null || { log "podman missing: run scripts/install-deps"; exit 1; }
    only=${2:-all}
    if [ "$only" = podman ]; then
        [ -f "$RIG/registry.addr" ] || echo "127.0.0.1:1" >"$RIG/registry.addr"
        start_podman
        socks=("$RIG/podman.sock")
    else
        start_registry
        start_podman
        start_docker
        socks=("$RIG/podman.sock" "$RIG/docker.sock")
    fi
    make_rootfs_tars
    for s in "${socks[@]}"; do
        import_image "$s" localhost/busybox test "$STATE/busybox.tar"
        import_image "$s" localhost/bash test "$STATE/bash.tar"
    done
    [ "$only" = podman ] || push_registry_image
    write_env
    log "up: podman, docker, registry $(cat "$RIG/registry.addr"); env in $RIG/env"
    ;;
stop)
    stop_one docker
    stop_one podman
    stop_one registry
    reap_orphan_conmon
    rm -f "$RIG/env"
    log "stopped"
    ;;
status)
    for p in podman docker registry; do
        if alive "$RIG/$p.pid"; then echo "$p: running (pid $(cat "$RIG/$p.pid"))"; else echo "$p: stopped"; fi
    done
    ;;
*)
    echo "usage: $0 start|stop|status" >&2
    exit 2
    ;;
esac
