# Sourced by bench/load.sh and bench/soak.sh (which define log and die): checks for wrk,
# taskset and two CPUs (installing wrk with apt-get when running as root), and stop_process.

if ! command -v wrk >/dev/null 2>&1; then
    if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
        log "wrk not found; installing it: apt-get install -y wrk"
        apt-get install -y wrk >&2 || { apt-get update >&2 && apt-get install -y wrk >&2; } ||
            die "could not install wrk"
    else
        die "wrk not found: install it with 'apt-get install -y wrk' (Debian/Ubuntu package wrk)"
    fi
fi
command -v taskset >/dev/null 2>&1 || die "taskset not found (Debian package util-linux)"
[ "$(getconf _NPROCESSORS_ONLN)" -ge 2 ] || die "needs at least 2 CPUs (server on CPU 0, wrk on CPU 1)"

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
