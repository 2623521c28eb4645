# Sourced by the bench scripts (which define log and die): sample_body, need_command,
# load_prerequisites, stop_process, free_port, free_port_except and wait_listening.

# The allocator setting the image and the manifests give `serve` (mimalloc hands freed memory
# back after 10 ms, see src/main.rs): every script that starts serve passes it (`env
# "$SERVE_ALLOCATOR_ENV" ...`), so that its figures are those of the deployed server.
SERVE_ALLOCATOR_ENV=MIMALLOC_PURGE_DELAY=10

# sample_body ROOT REQUEST: the sample AdmissionReview a benchmark sends for REQUEST (policy or
# configmap), as the apiserver sends it.
sample_body() {
    case $2 in
        policy) echo "$1/tests/fixtures/samples/admission-backendtlspolicy.json" ;;
        configmap) echo "$1/tests/fixtures/samples/admission-configmap-3certs.json" ;;
        *) die "unknown request $2: policy or configmap" ;;
    esac
}

# need_command COMMAND PACKAGE: installs the Debian PACKAGE with apt-get when COMMAND is missing
# and this runs as root; otherwise stops with how to install it.
need_command() {
    local command=$1 package=$2
    command -v "$command" >/dev/null 2>&1 && return 0
    if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
        log "$command not found; installing it: apt-get install -y $package"
        apt-get install -y "$package" >&2 ||
            { apt-get update >&2 && apt-get install -y "$package" >&2; } ||
            die "could not install $package"
    else
        die "$command not found: install it with 'apt-get install -y $package' (Debian/Ubuntu package $package)"
    fi
}

# load_prerequisites: wrk, taskset and two CPUs (server on CPU 0, wrk on CPU 1).
load_prerequisites() {
    need_command wrk wrk
    command -v taskset >/dev/null 2>&1 || die "taskset not found (Debian package util-linux)"
    [ "$(getconf _NPROCESSORS_ONLN)" -ge 2 ] ||
        die "needs at least 2 CPUs (server on CPU 0, wrk on CPU 1)"
}

# stop_process PID: SIGTERM, up to 5 s for it to exit, then SIGKILL. Nothing for an empty PID.
stop_process() {
    local pid=$1
    [ -n "$pid" ] || return 0
    kill -TERM "$pid" 2>/dev/null || return 0
    for _ in $(seq 50); do
        kill -0 "$pid" 2>/dev/null || return 0
        sleep 0.1
    done
    kill -KILL "$pid" 2>/dev/null || true
}

# A free port: bind port 0 and read what the kernel picked (Python), else a random high port
# nobody listens on.
free_port() {
    if command -v python3 >/dev/null 2>&1; then
        python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
        return
    fi
    local port
    while :; do
        port=$(( 20000 + RANDOM % 30000 ))
        if ! (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then
            echo "$port"
            return
        fi
    done
}

# wait_listening PID PORT LOGFILE [SECONDS]: until the server listens (a LISTEN socket on
# 127.0.0.1:PORT in /proc/net/tcp; no connection is made, and no log line is needed), at most
# SECONDS (default 10).
wait_listening() {
    local pid=$1 port=$2 logfile=$3 seconds=${4:-10} hex
    hex=$(printf '0100007F:%04X' "$port")
    for _ in $(seq $((seconds * 10))); do
        kill -0 "$pid" 2>/dev/null || { cat "$logfile" >&2; die "server exited at startup"; }
        awk -v a="$hex" '$2 == a && $4 == "0A" { found = 1 } END { exit !found }' /proc/net/tcp && return 0
        sleep 0.1
    done
    cat "$logfile" >&2
    die "server did not start within $seconds s"
}

# free_port_except PORT...: a free port other than those given (not yet bound, so the kernel
# may offer one twice).
free_port_except() {
    local port
    port=$(free_port)
    while [[ " $* " == *" $port "* ]]; do port=$(free_port); done
    echo "$port"
}
