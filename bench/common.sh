# Sourced by the bench scripts (which define log and die): need_command, load_prerequisites and
# stop_process.

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
