#!/bin/sh
# PVM venue appliance installer. Served by the hub at /install.sh:
#
#   curl -fsSL https://HUB/install.sh | sudo sh -s -- --token pvm_reg_...
#
# Checks the machine, installs Docker only if it is missing, downloads the
# release artefacts from the hub and verifies them against a manifest signed
# with the hub's ed25519 key, writes /opt/pvm (compose file, settings, data
# with its secrets 0600), registers this node with the token, starts the
# stack (restarted by Docker on boot) and prints the staff and display URLs.
#
# Safe to run again: what is already done is left alone. Options:
#   --token T          one-time registration token from the hub's admin page
#   --hub URL          the hub (default: the one this script came from)
#   --hub-key KEY      the hub's public key, base64 (default: the one this script came with)
#   --prefix DIR       where to install (default /opt/pvm)
#   --port N           the staff UI and displays port (default 8080)
#   --leaf-port N      the leaf nats-server's client port (default 4222)
#   --leaf-monitor-port N  its monitoring port (default 8222)
#   --insecure-http    allow an http:// hub (a lab without TLS; never a venue)
#   --dry-run          print the plan, change nothing
#   --uninstall        stop and remove PVM, keeping its data (add --purge to delete the data too)
#
# The whole script is functions; `main` runs on the last line, so a download
# cut short runs nothing.

set -u

HUB_URL="@HUB_URL@"
HUB_KEY="@HUB_KEY@"
PREFIX=/opt/pvm
PORT=8080
LEAF_PORT=4222
LEAF_MONITOR_PORT=8222
TOKEN=""
DRY_RUN=no
INSECURE_HTTP=no
UNINSTALL=no
PURGE=no
WORK=""
ARCH=""
COMPOSE=""
NODE_UID=65532

say() { printf '%s\n' "pvm-install: $*"; }
fail() {
    printf '%s\n' "pvm-install: error: $1" >&2
    [ $# -gt 1 ] && printf '%s\n' "pvm-install: what to do: $2" >&2
    exit 1
}
# Runs a command, or only shows it with --dry-run.
run() {
    if [ "$DRY_RUN" = yes ]; then
        printf '%s\n' "  would run: $*"
    else
        "$@" || fail "'$*' failed" "see the message above; fix it and run this script again (it is safe to re-run)"
    fi
}

usage() {
    cat <<'EOF'
Usage: install.sh --token pvm_reg_... [options]
  --hub URL              the hub (default: the one this script came from)
  --hub-key KEY          the hub's public key, base64 (default: the one this script came with)
  --prefix DIR           where to install (default /opt/pvm)
  --port N               the staff UI and displays port (default 8080)
  --leaf-port N          the leaf nats-server's client port (default 4222)
  --leaf-monitor-port N  its monitoring port (default 8222)
  --insecure-http        allow an http:// hub (a lab without TLS; never a venue)
  --dry-run              print the plan, change nothing
  --uninstall [--purge]  stop and remove PVM; --purge deletes the data too
EOF
}

parse_args() {
    while [ $# -gt 0 ]; do
        case "$1" in
            --token) [ $# -ge 2 ] || fail "--token needs a value"; TOKEN=$2; shift 2 ;;
            --hub) [ $# -ge 2 ] || fail "--hub needs a value"; HUB_URL=$2; shift 2 ;;
            --hub-key) [ $# -ge 2 ] || fail "--hub-key needs a value"; HUB_KEY=$2; shift 2 ;;
            --prefix) [ $# -ge 2 ] || fail "--prefix needs a value"; PREFIX=$2; shift 2 ;;
            --port) [ $# -ge 2 ] || fail "--port needs a value"; PORT=$2; shift 2 ;;
            --leaf-port) [ $# -ge 2 ] || fail "--leaf-port needs a value"; LEAF_PORT=$2; shift 2 ;;
            --leaf-monitor-port) [ $# -ge 2 ] || fail "--leaf-monitor-port needs a value"; LEAF_MONITOR_PORT=$2; shift 2 ;;
            --dry-run) DRY_RUN=yes; shift ;;
            --insecure-http) INSECURE_HTTP=yes; shift ;;
            --uninstall) UNINSTALL=yes; shift ;;
            --purge) PURGE=yes; shift ;;
            -h|--help) usage; exit 0 ;;
            *) fail "unknown option $1" "run with --help to see the options" ;;
        esac
    done
    HUB_URL=${HUB_URL%/}
    case "$HUB_URL:$INSECURE_HTTP" in
        https://*) ;;
        http://*:yes) ;;
        http://*) fail "the hub address '$HUB_URL' is plain http: the registration would carry the leaf password in the clear" "use the hub's https:// address (--hub https://your-hub), or --insecure-http for a lab" ;;
        *) fail "the hub address '$HUB_URL' is not an https URL" "pass --hub https://your-hub" ;;
    esac
    case "$HUB_KEY" in
        @*|"") fail "no hub key" "download this script from your hub (it carries the key) or pass --hub-key" ;;
    esac
    for n in "$PORT" "$LEAF_PORT" "$LEAF_MONITOR_PORT"; do
        case "$n" in
            ''|*[!0-9]*) fail "'$n' is not a port number" ;;
        esac
    done
    if [ "$UNINSTALL" = no ] && [ "$DRY_RUN" = no ] && [ -z "$TOKEN" ] && [ ! -f "$PREFIX/data/hub.json" ]; then
        fail "no registration token" "make one on the hub's admin page (Venues -> your venue -> Make a token) and pass --token pvm_reg_..."
    fi
    case "$TOKEN" in
        ''|pvm_reg_*) ;;
        *) fail "'$TOKEN' is not a registration token (they start with pvm_reg_)" ;;
    esac
}

check_system() {
    [ "$(uname -s)" = Linux ] || fail "PVM runs on Linux, not $(uname -s)"
    case "$(uname -m)" in
        x86_64|amd64) ARCH=amd64 ;;
        aarch64|arm64) ARCH=arm64 ;;
        *) fail "unsupported processor $(uname -m)" "use a Raspberry Pi 5 (64-bit OS) or an x86-64 machine" ;;
    esac
    # A 64-bit kernel under a 32-bit system (older Raspberry Pi OS images)
    # says aarch64 but runs armhf packages and Docker.
    if command -v dpkg >/dev/null 2>&1; then
        userland=$(dpkg --print-architecture 2>/dev/null || true)
        case "$ARCH:$userland" in
            arm64:armhf|arm64:armel|amd64:i386)
                fail "this system is 32-bit ($userland) on a 64-bit processor" "install the 64-bit OS (Raspberry Pi OS 64-bit, Debian or Ubuntu arm64) and run this again" ;;
        esac
    fi
    if [ -r /etc/os-release ]; then
        # shellcheck disable=SC1091
        . /etc/os-release
        case "${ID:-}:${ID_LIKE:-}" in
            debian*|ubuntu*|raspbian*|*:*debian*) say "system: ${PRETTY_NAME:-$ID}, $ARCH" ;;
            *) say "system: ${PRETTY_NAME:-unknown} ($ARCH): not Debian or Ubuntu; continuing, but only those are tested" ;;
        esac
    fi
    if [ "$DRY_RUN" = no ] && [ "$(id -u)" -ne 0 ]; then
        fail "this needs root" "run it with sudo: curl -fsSL $HUB_URL/install.sh | sudo sh -s -- --token ..."
    fi
    for tool in curl openssl sha256sum base64; do
        command -v "$tool" >/dev/null 2>&1 || need_packages="${need_packages:-} $tool"
    done
    if [ -n "${need_packages:-}" ]; then
        say "installing:${need_packages}"
        command -v apt-get >/dev/null 2>&1 || fail "missing${need_packages} and no apt-get to install them" "install them and run this again"
        packages=$(printf '%s' "$need_packages" | sed 's/sha256sum/coreutils/; s/base64/coreutils/')
        # shellcheck disable=SC2086 # one word per package
        run apt-get install -y -qq $packages
    fi
}

ensure_docker() {
    if command -v docker >/dev/null 2>&1 && docker info >/dev/null 2>&1; then
        say "docker: present ($(docker version -f '{{.Server.Version}}' 2>/dev/null || echo running))"
    elif command -v docker >/dev/null 2>&1; then
        say "docker: installed but not running; starting it"
        if command -v systemctl >/dev/null 2>&1; then run systemctl start docker; else fail "the Docker daemon is not running" "start dockerd and run this again"; fi
    else
        say "docker: missing; installing Debian's docker.io"
        command -v apt-get >/dev/null 2>&1 || fail "Docker is missing and there is no apt-get" "install Docker (https://docs.docker.com/engine/install/) and run this again"
        run apt-get update -qq
        run env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq docker.io
        command -v systemctl >/dev/null 2>&1 && run systemctl enable --now docker
    fi
    if docker compose version >/dev/null 2>&1; then
        COMPOSE="docker compose"
    elif command -v docker-compose >/dev/null 2>&1; then
        COMPOSE="docker-compose"
    else
        say "docker compose: missing; installing Debian's docker-compose"
        command -v apt-get >/dev/null 2>&1 || fail "docker compose is missing" "install the Docker Compose plugin and run this again"
        run env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq docker-compose
        COMPOSE="docker-compose"
    fi
}

# The hub's key as a PEM public key (Ed25519 SubjectPublicKeyInfo).
hub_key_pem() {
    {
        printf '\060\052\060\005\006\003\053\145\160\003\041\000'
        printf '%s' "$HUB_KEY" | base64 -d
    } > "$WORK/hub.der" 2>/dev/null || fail "the hub key is not base64"
    [ "$(wc -c < "$WORK/hub.der")" -eq 44 ] || fail "the hub key is not a 32-byte ed25519 key"
    openssl pkey -pubin -inform DER -in "$WORK/hub.der" -out "$WORK/hub.pem" 2>/dev/null \
        || fail "openssl cannot read the hub key" "openssl 3 is needed (Debian 12, Ubuntu 22.04 or later)"
}

fetch() { # name -> $WORK/name
    curl -fsSL --retry 3 -o "$WORK/$1" "$HUB_URL/dist/$1" \
        || fail "could not download $1 from $HUB_URL/dist/" "check the hub address and this machine's internet line"
}

# Downloads the manifest, checks the hub's signature on it, then each artefact against it.
fetch_artefacts() {
    fetch SHA256SUMS
    fetch SHA256SUMS.sig
    hub_key_pem
    # The hub signs the release's context line and the manifest (one key,
    # one purpose: a release signature is never a token or a message).
    { printf 'pvm-release-v1\n'; cat "$WORK/SHA256SUMS"; } >"$WORK/SHA256SUMS.signed"
    openssl pkeyutl -verify -pubin -inkey "$WORK/hub.pem" -rawin \
        -in "$WORK/SHA256SUMS.signed" -sigfile "$WORK/SHA256SUMS.sig" >/dev/null 2>&1 \
        || fail "the release manifest is not signed by the hub's key: refusing to install it" "do not continue; tell your PVM administrator"
    say "release manifest: signed by the hub"
    NODE_TAR=$(sed -n "s/^[0-9a-f]\{64\}  \(pvm-node-image-.*-$ARCH\.tar\.gz\)$/\1/p" "$WORK/SHA256SUMS" | head -1)
    NATS_TAR=$(sed -n "s/^[0-9a-f]\{64\}  \(pvm-nats-image-.*-$ARCH\.tar\.gz\)$/\1/p" "$WORK/SHA256SUMS" | head -1)
    if [ -z "$NODE_TAR" ] || [ -z "$NATS_TAR" ]; then
        fail "the hub has no $ARCH images in its release" "ask your PVM administrator to publish the $ARCH build"
    fi
    VERSION=$(printf '%s' "$NODE_TAR" | sed "s/^pvm-node-image-\(.*\)-$ARCH\.tar\.gz$/\1/")
    for f in "$NODE_TAR" "$NATS_TAR" node.yml; do
        fetch "$f"
        want=$(awk -v f="$f" '$2 == f { print $1 }' "$WORK/SHA256SUMS")
        got=$(sha256sum "$WORK/$f" | cut -d' ' -f1)
        if [ -z "$want" ] || [ "$want" != "$got" ]; then
            fail "$f does not match the signed manifest (tampered or damaged): refusing to install it" "do not continue; tell your PVM administrator"
        fi
    done
    say "artefacts: version $VERSION, every file matches the signed manifest"
}

load_images() {
    for pair in "pvm-node:$VERSION $NODE_TAR" "pvm-nats:$VERSION $NATS_TAR"; do
        tag=${pair%% *}
        tar=${pair#* }
        if docker image inspect "$tag" >/dev/null 2>&1; then
            say "image $tag: already loaded"
        else
            say "image $tag: loading"
            if [ "$DRY_RUN" = yes ]; then
                printf '%s\n' "  would run: docker load -i $tar"
            else
                gzip -dc "$WORK/$tar" | docker load >/dev/null || fail "docker could not load $tar" "check free disk space (df -h) and run this again"
            fi
        fi
    done
}

# Writes a file only if its content changes; says which.
put_file() { # path mode source
    if [ -f "$1" ] && cmp -s "$1" "$3"; then
        say "$1: unchanged"
        return
    fi
    say "$1: writing"
    [ "$DRY_RUN" = yes ] && return
    if ! { cp "$3" "$1.tmp" && chmod "$2" "$1.tmp" && mv "$1.tmp" "$1"; }; then
        fail "cannot write $1"
    fi
}

write_files() {
    run mkdir -p "$PREFIX/data"
    [ "$DRY_RUN" = yes ] || chown "$NODE_UID:$NODE_UID" "$PREFIX/data"
    run chmod 0700 "$PREFIX/data"
    put_file "$PREFIX/compose.yml" 0644 "$WORK/node.yml"
    cat > "$WORK/env" <<EOF
# Written by install.sh; read by docker compose.
PVM_NODE_IMAGE=pvm-node:$VERSION
PVM_NATS_IMAGE=pvm-nats:$VERSION
PVM_PORT=$PORT
PVM_LEAF_PORT=$LEAF_PORT
PVM_LEAF_MONITOR_PORT=$LEAF_MONITOR_PORT
PVM_DOCKER_GID=$(stat -c %g /var/run/docker.sock 2>/dev/null || echo 999)
EOF
    put_file "$PREFIX/.env" 0600 "$WORK/env"
}

node_cmd() { # pvm-node arguments, run once in the node image against the data dir
    run docker run --rm --network host --user "$NODE_UID:$NODE_UID" \
        -v "$PREFIX/data:/data" "pvm-node:$VERSION" "$@"
}

register() {
    if [ -f "$PREFIX/data/hub.json" ]; then
        say "registration: already registered (data/hub.json); token not used"
    else
        [ -n "$TOKEN" ] || { [ "$DRY_RUN" = yes ] && TOKEN=pvm_reg_TOKEN; }
        say "registration: registering with $HUB_URL"
        if [ "$INSECURE_HTTP" = yes ]; then
            node_cmd register --hub "$HUB_URL" --token "$TOKEN" --insecure-http
        else
            node_cmd register --hub "$HUB_URL" --token "$TOKEN"
        fi
    fi
    if [ -f "$PREFIX/data/leaf.conf" ]; then
        say "leaf configuration: present"
    else
        # The hub's leaf CA lands beside it (data/leaf.ca.pem); the leaf
        # container reads it at /etc/nats/leaf-ca.pem (compose.yml).
        node_cmd leaf-config --out /data/leaf.conf --port "$LEAF_PORT" --monitor-port "$LEAF_MONITOR_PORT" \
            --ca-out /data/leaf.ca.pem --ca-path /etc/nats/leaf-ca.pem
    fi
}

start_stack() {
    say "starting the stack ($COMPOSE)"
    # shellcheck disable=SC2086 # "docker compose" is two words
    run $COMPOSE -p pvm --project-directory "$PREFIX" -f "$PREFIX/compose.yml" up -d
    if command -v systemctl >/dev/null 2>&1 && [ -d /run/systemd/system ]; then
        run systemctl enable docker >/dev/null 2>&1
    fi
    [ "$DRY_RUN" = yes ] && return
    i=0
    until curl -fsS "http://127.0.0.1:$PORT/health" >/dev/null 2>&1; do
        i=$((i + 1))
        [ $i -lt 60 ] || fail "the node did not answer on port $PORT within 60 s" "see: docker logs pvm-node"
        sleep 1
    done
}

print_urls() {
    ip=$(hostname -I 2>/dev/null | awk '{ print $1 }')
    ip=${ip:-127.0.0.1}
    say "done."
    printf '\n  Staff UI:  http://%s:%s/\n  Displays:  http://%s:%s/display  (TVs on this network also find it by mDNS)\n\n' "$ip" "$PORT" "$ip" "$PORT"
    printf '  First sign-in: open the staff UI; it asks for the setup code the node printed:\n    docker logs pvm-node 2>&1 | grep "setup code"\n\n'
}

uninstall() {
    if [ -f "$PREFIX/compose.yml" ]; then
        # shellcheck disable=SC2086 # "docker compose" is two words
        run $COMPOSE -p pvm --project-directory "$PREFIX" -f "$PREFIX/compose.yml" down
    fi
    run rm -f "$PREFIX/compose.yml" "$PREFIX/.env"
    if [ "$PURGE" = yes ]; then
        run rm -rf "$PREFIX/data"
        run rmdir "$PREFIX"
        say "removed, data included"
    else
        say "removed; the data is kept in $PREFIX/data (run with --uninstall --purge to delete it)"
    fi
}

cleanup() { [ -n "$WORK" ] && rm -rf "$WORK"; }

main() {
    parse_args "$@"
    check_system
    [ "$DRY_RUN" = yes ] && say "dry run: nothing will be changed"
    ensure_docker
    if [ "$UNINSTALL" = yes ]; then
        uninstall
        return
    fi
    WORK=$(mktemp -d) || fail "cannot make a temporary directory"
    trap cleanup EXIT
    fetch_artefacts
    load_images
    write_files
    register
    start_stack
    if [ "$DRY_RUN" = yes ]; then
        say "dry run complete: nothing was changed"
    else
        print_urls
    fi
}

main "$@"
