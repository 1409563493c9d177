#!/usr/bin/env bash
# Make sure PostgreSQL, Redis and RabbitMQ answer at the addresses the suite is configured
# with (DATABASE_URL, REDIS_URL, AMQP_URL; from the environment, else `.env`, else defaults).
#
# Run as root by `make run` / `make test` on Debian 12 (no systemd). For each service:
#   - already answering            -> print one line, touch nothing;
#   - local host, not answering    -> apt-get install if the server is absent, start it
#                                     without systemd, wait until it answers;
#   - remote host, not answering   -> error, exit 1.
# For a local broker, a non-default vhost in AMQP_URL is created and the URL's user gets full
# permissions on it. Databases and migrations are the Python side's business, not this script's.
set -euo pipefail

export PATH="$PATH:/usr/local/sbin:/usr/sbin:/sbin"
export DEBIAN_FRONTEND=noninteractive

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
PG_WAIT=30
REDIS_WAIT=30
RABBIT_WAIT=60

LOG="$(mktemp -t bootstrap.XXXXXX)"
trap 'rm -f "$LOG"' EXIT

die() {
    echo "bootstrap: $*" >&2
    exit 1
}

# Show what the last captured commands printed (apt, pg_ctlcluster, ...), then fail.
die_with_log() {
    if [[ -s $LOG ]]; then
        echo "---- last output ----" >&2
        tail -n 25 "$LOG" >&2
        echo "---------------------" >&2
    fi
    die "$@"
}

# --------------------------------------------------------------------------- configuration

# Fill DATABASE_URL / REDIS_URL / AMQP_URL from a dotenv file; the environment wins.
load_dotenv() {
    local file=$1 line key val
    [[ -f $file ]] || return 0
    while IFS= read -r line || [[ -n $line ]]; do
        line=${line%$'\r'}
        [[ $line =~ ^[[:space:]]*(export[[:space:]]+)?([A-Za-z_][A-Za-z0-9_]*)[[:space:]]*=[[:space:]]*(.*)$ ]] ||
            continue
        key=${BASH_REMATCH[2]}
        val=${BASH_REMATCH[3]}
        case $key in
        DATABASE_URL | REDIS_URL | AMQP_URL) ;;
        *) continue ;;
        esac
        [[ -n ${!key+set} ]] && continue
        if [[ $val =~ ^\"(.*)\"[[:space:]]*(#.*)?$ || $val =~ ^\'(.*)\'[[:space:]]*(#.*)?$ ]]; then
            val=${BASH_REMATCH[1]}
        else
            val=${val%%[[:space:]]#*}
            val=${val%"${val##*[![:space:]]}"}
        fi
        printf -v "$key" '%s' "$val"
    done <"$file"
}

urldecode() {
    local s=${1//\\/\\\\}
    printf '%b' "${s//%/\\x}"
}

# parse_url URL DEFAULT_PORT -> sets U_HOST U_PORT U_USER U_PASS U_PATH (user/pass decoded).
parse_url() {
    local url=$1 rest authority userinfo hostport
    U_HOST="" U_PORT=$2 U_USER="" U_PASS="" U_PATH=""
    [[ $url == *://* ]] || die "not a URL: '$url'"
    rest=${url#*://}
    rest=${rest%%#*}
    authority=${rest%%[/?]*}
    rest=${rest#"$authority"}
    U_PATH=${rest%%\?*}
    if [[ $authority == *@* ]]; then
        userinfo=${authority%@*}
        hostport=${authority##*@}
        if [[ $userinfo == *:* ]]; then
            U_USER=$(urldecode "${userinfo%%:*}")
            U_PASS=$(urldecode "${userinfo#*:}")
        else
            U_USER=$(urldecode "$userinfo")
        fi
    else
        hostport=$authority
    fi
    if [[ $hostport == \[* ]]; then # [v6]:port
        U_HOST=${hostport#\[}
        U_HOST=${U_HOST%%]*}
        hostport=${hostport#*]}
        [[ $hostport == :?* ]] && U_PORT=${hostport#:}
    elif [[ $hostport == *:*:* ]]; then # bare IPv6, no port
        U_HOST=$hostport
    elif [[ $hostport == *:* ]]; then
        U_HOST=${hostport%%:*}
        [[ -n ${hostport#*:} ]] && U_PORT=${hostport#*:}
    else
        U_HOST=$hostport
    fi
    [[ -n $U_HOST ]] || U_HOST=127.0.0.1
    [[ $U_PORT =~ ^[0-9]+$ ]] || die "bad port '$U_PORT' in URL '$url'"
}

is_local() {
    case $1 in
    127.0.0.1 | localhost | ::1) return 0 ;;
    *) return 1 ;;
    esac
}

addr() {
    if [[ $1 == *:* ]]; then echo "[$1]:$2"; else echo "$1:$2"; fi
}

tcp_open() {
    # shellcheck disable=SC2016 # $1/$2 expand in the inner bash
    timeout 2 bash -c 'exec 3<>"/dev/tcp/$1/$2"' _ "$1" "$2" 2>/dev/null
}

# wait_until SECONDS CMD...: poll CMD every half second until it succeeds or time runs out.
wait_until() {
    local deadline=$((SECONDS + $1))
    shift
    until "$@"; do
        ((SECONDS < deadline)) || return 1
        sleep 0.5
    done
}

APT_UPDATED=0
apt_install() {
    local pkg=$1 svc=$2
    echo "$svc: installing package $pkg (apt-get)"
    if ((APT_UPDATED == 0)); then
        apt-get update -q >>"$LOG" 2>&1 || die_with_log "apt-get update failed"
        APT_UPDATED=1
    fi
    apt-get install -y -q --no-install-recommends "$pkg" >>"$LOG" 2>&1 ||
        die_with_log "apt-get install $pkg failed"
}

# ------------------------------------------------------------------------------ PostgreSQL

pg_answers() {
    if command -v pg_isready >/dev/null 2>&1; then
        pg_isready -q -h "$1" -p "$2" -t 2 >/dev/null 2>&1
    else
        tcp_open "$1" "$2"
    fi
}

pg_installed() {
    command -v pg_ctlcluster >/dev/null 2>&1 && compgen -G '/usr/lib/postgresql/*/bin/postgres' >/dev/null
}

ensure_postgres() {
    local host port at fresh=0 ver="" name=""
    parse_url "${DATABASE_URL:-postgresql://postgres@127.0.0.1:5432/customer_suite}" 5432
    host=$U_HOST port=$U_PORT at=$(addr "$U_HOST" "$U_PORT")
    if pg_answers "$host" "$port"; then
        echo "postgresql: already running at $at"
        return
    fi
    is_local "$host" || die "postgresql: nothing answers at $at (remote host; start it there or fix DATABASE_URL)"

    if ! pg_installed; then
        apt_install postgresql postgresql
        fresh=1
        if pg_answers "$host" "$port"; then # the package's init script may have started it
            pg_trust_local "$(pg_lsclusters -h | awk -v p="$port" '$3 == p { print $1, $2; exit }')"
            echo "postgresql: installed and running at $at"
            return
        fi
    fi

    # The cluster that listens on the configured port.
    local clusters port_changed=0
    clusters=$(pg_lsclusters -h 2>/dev/null || true)
    read -r ver name < <(awk -v p="$port" '$3 == p { print $1, $2; exit }' <<<"$clusters") || true
    if [[ -z ${ver:-} && -z $clusters ]]; then
        ver=$(find /usr/lib/postgresql -mindepth 1 -maxdepth 1 -printf '%f\n' | sort -V | tail -n 1)
        name=main
        pg_createcluster -p "$port" "$ver" "$name" >>"$LOG" 2>&1 ||
            die_with_log "postgresql: pg_createcluster $ver $name failed"
        fresh=1
    elif [[ -z ${ver:-} ]] && ((fresh)); then
        # Just installed, but the package's cluster uses another port: it is ours to adjust.
        read -r ver name < <(head -n 1 <<<"$clusters") || true
        pg_conftool "$ver" "$name" set port "$port" >>"$LOG" 2>&1 ||
            die_with_log "postgresql: could not set port $port on cluster $ver/$name"
        port_changed=1
    elif [[ -z ${ver:-} ]]; then
        die "postgresql: nothing answers at $at and no local cluster is configured for port $port" \
            "(clusters: $(awk '{ printf "%s%s/%s on port %s", (NR > 1 ? ", " : ""), $1, $2, $3 }' <<<"$clusters"))"
    fi

    # Trust auth for 127.0.0.1/::1 only on a server this script installed or created.
    if ((fresh)); then
        pg_trust_local "$ver $name"
    fi

    local hint=""
    if ! pg_ctlcluster --skip-systemctl-redirect "$ver" "$name" status >/dev/null 2>&1; then
        pg_ctlcluster --skip-systemctl-redirect "$ver" "$name" start >>"$LOG" 2>&1 || true
    elif ((!port_changed)); then
        hint=" (it was already running: check listen_addresses in /etc/postgresql/$ver/$name/postgresql.conf)"
    else
        pg_ctlcluster --skip-systemctl-redirect "$ver" "$name" restart >>"$LOG" 2>&1 || true
    fi
    wait_until "$PG_WAIT" pg_answers "$host" "$port" ||
        die_with_log "postgresql: cluster $ver/$name did not answer at $at within ${PG_WAIT}s$hint" \
            "(log: /var/log/postgresql/postgresql-$ver-$name.log)"
    echo "postgresql: started cluster $ver/$name at $at"
}

# pg_trust_local "VER NAME": put trust rules for 127.0.0.1/32 and ::1/128 first in pg_hba.conf,
# reload if the cluster runs.
pg_trust_local() {
    local ver name hba tmp marker="# customer-suite bootstrap: trust local TCP connections"
    read -r ver name <<<"$1"
    [[ -n ${ver:-} && -n ${name:-} ]] || return 0
    hba=/etc/postgresql/$ver/$name/pg_hba.conf
    [[ -f $hba ]] || die "postgresql: $hba not found"
    grep -Fxq "$marker" "$hba" && return 0
    tmp=$(mktemp)
    {
        echo "$marker"
        echo "host    all             all             127.0.0.1/32            trust"
        echo "host    all             all             ::1/128                 trust"
        echo
        cat "$hba"
    } >"$tmp"
    cat "$tmp" >"$hba" # keeps the file's owner and mode
    rm -f "$tmp"
    if pg_ctlcluster --skip-systemctl-redirect "$ver" "$name" status >/dev/null 2>&1; then
        pg_ctlcluster --skip-systemctl-redirect "$ver" "$name" reload >>"$LOG" 2>&1 ||
            die_with_log "postgresql: reload of $ver/$name failed"
    fi
}

# ----------------------------------------------------------------------------------- Redis

redis_answers() {
    local reply
    if command -v redis-cli >/dev/null 2>&1; then
        reply=$(timeout 3 redis-cli -h "$1" -p "$2" ping 2>&1) || return 1
    else
        # shellcheck disable=SC2016 # $1/$2/$l expand in the inner bash
        reply=$(timeout 2 bash -c 'exec 3<>"/dev/tcp/$1/$2" && printf "PING\r\n" >&3 && IFS= read -r l <&3 && echo "$l"' \
            _ "$1" "$2" 2>/dev/null) || return 1
    fi
    # PONG, or an auth error from a password-protected server: either way it answers.
    [[ $reply == *PONG* || $reply == *NOAUTH* || $reply == *WRONGPASS* ]]
}

ensure_redis() {
    local host port at
    parse_url "${REDIS_URL:-redis://127.0.0.1:6379/0}" 6379
    host=$U_HOST port=$U_PORT at=$(addr "$U_HOST" "$U_PORT")
    if redis_answers "$host" "$port"; then
        echo "redis: already running at $at"
        return
    fi
    is_local "$host" || die "redis: nothing answers at $at (remote host; start it there or fix REDIS_URL)"

    if ! command -v redis-server >/dev/null 2>&1; then
        apt_install redis-server redis
        if redis_answers "$host" "$port"; then # the package's init script may have started it
            echo "redis: installed and running at $at"
            return
        fi
    fi
    mkdir -p /var/lib/redis /var/log/redis /run/redis
    redis-server --daemonize yes --bind 127.0.0.1 -::1 --port "$port" --save "" --appendonly no \
        --dir /var/lib/redis --logfile /var/log/redis/ci.log \
        --pidfile "/run/redis/redis-ci-$port.pid" >>"$LOG" 2>&1 ||
        die_with_log "redis: redis-server failed to start"
    wait_until "$REDIS_WAIT" redis_answers "$host" "$port" ||
        die_with_log "redis: did not answer at $at within ${REDIS_WAIT}s (log: /var/log/redis/ci.log)"
    echo "redis: started at $at"
}

# -------------------------------------------------------------------------------- RabbitMQ

# Exit 0 when USER can open VHOST over AMQP 0-9-1 (so the vhost exists and the user has
# access); anything else (no python3, TLS, vhost missing, ...) means "ask rabbitmqctl".
amqp_vhost_open() {
    command -v python3 >/dev/null 2>&1 || return 1
    P_HOST=$1 P_PORT=$2 P_USER=$3 P_PASS=$4 P_VHOST=$5 timeout 5 python3 - <<'PY' 2>/dev/null
import os, socket, struct, sys

env = os.environ


def shortstr(s):
    b = s.encode()
    return bytes([len(b)]) + b


def method(cls, mth, args=b""):
    payload = struct.pack(">HH", cls, mth) + args
    return struct.pack(">BHI", 1, 0, len(payload)) + payload + b"\xce"


def recv_exact(sock, n):
    buf = b""
    while len(buf) < n:
        chunk = sock.recv(n - len(buf))
        if not chunk:
            raise EOFError
        buf += chunk
    return buf


def read_method(sock):
    while True:
        ftype, _channel, size = struct.unpack(">BHI", recv_exact(sock, 7))
        payload = recv_exact(sock, size + 1)[:-1]
        if ftype == 1:
            cls, mth = struct.unpack(">HH", payload[:4])
            return cls, mth, payload[4:]


try:
    sock = socket.create_connection((env["P_HOST"], int(env["P_PORT"])), timeout=3)
    sock.sendall(b"AMQP\x00\x00\x09\x01")
    if read_method(sock)[:2] != (10, 10):  # connection.start
        sys.exit(1)
    auth = b"\0" + env["P_USER"].encode() + b"\0" + env["P_PASS"].encode()
    sock.sendall(method(10, 11, struct.pack(">I", 0) + shortstr("PLAIN")
                        + struct.pack(">I", len(auth)) + auth + shortstr("en_US")))
    cls, mth, args = read_method(sock)
    if (cls, mth) != (10, 30):  # connection.tune
        sys.exit(1)
    channel_max, frame_max, _heartbeat = struct.unpack(">HIH", args[:8])
    sock.sendall(method(10, 31, struct.pack(">HIH", channel_max, frame_max, 0)))
    sock.sendall(method(10, 40, shortstr(env["P_VHOST"]) + shortstr("") + b"\x00"))
    cls, mth, args = read_method(sock)
    if (cls, mth) == (10, 41):  # connection.open-ok: close politely
        sock.sendall(method(10, 50, struct.pack(">H", 200) + shortstr("") + struct.pack(">HH", 0, 0)))
        try:
            read_method(sock)
        except Exception:
            pass
        sys.exit(0)
    if (cls, mth) == (10, 50):  # connection.close (e.g. 530 vhost not found / access refused)
        sock.sendall(method(10, 51))
    sys.exit(2)
except Exception:
    sys.exit(1)
PY
}

ensure_rabbitmq() {
    local host port at user pass vhost state
    parse_url "${AMQP_URL:-amqp://guest:guest@127.0.0.1:5672/}" "$([[ ${AMQP_URL:-} == amqps:* ]] && echo 5671 || echo 5672)"
    host=$U_HOST port=$U_PORT at=$(addr "$U_HOST" "$U_PORT")
    user=${U_USER:-guest} pass=${U_PASS:-guest}
    vhost=$(urldecode "${U_PATH#/}")
    [[ -n $vhost ]] || vhost=/

    if tcp_open "$host" "$port"; then
        state="already running"
    else
        is_local "$host" || die "rabbitmq: nothing answers at $at (remote host; start it there or fix AMQP_URL)"
        if ! command -v rabbitmq-server >/dev/null 2>&1; then
            apt_install rabbitmq-server rabbitmq
        fi
        if ! tcp_open "$host" "$port"; then # the package's init script may have started it
            rabbitmq-server -detached >>"$LOG" 2>&1 || true
            wait_until "$RABBIT_WAIT" tcp_open "$host" "$port" ||
                die_with_log "rabbitmq: did not answer at $at within ${RABBIT_WAIT}s" \
                    "(logs: /var/log/rabbitmq/; listeners: /etc/rabbitmq/rabbitmq.conf)"
        fi
        state="started"
    fi

    if [[ $vhost == / ]] || ! is_local "$host"; then
        echo "rabbitmq: $state at $at"
        return
    fi
    if amqp_vhost_open "$host" "$port" "$user" "$pass" "$vhost"; then
        echo "rabbitmq: $state at $at (vhost $vhost ok)"
        return
    fi
    # Slow path (~1 s per rabbitmqctl call): create the vhost if missing, grant the user.
    rabbitmqctl -q await_startup >>"$LOG" 2>&1 || true
    local vhosts note="vhost $vhost ok"
    vhosts=$(rabbitmqctl -s list_vhosts name 2>>"$LOG") || die_with_log "rabbitmq: rabbitmqctl list_vhosts failed"
    if ! grep -Fxq -- "$vhost" <<<"$vhosts"; then
        rabbitmqctl -q add_vhost "$vhost" >>"$LOG" 2>&1 || die_with_log "rabbitmq: add_vhost $vhost failed"
        note="created vhost $vhost"
    fi
    rabbitmqctl -q set_permissions -p "$vhost" "$user" ".*" ".*" ".*" >>"$LOG" 2>&1 ||
        die_with_log "rabbitmq: set_permissions -p $vhost $user failed (does user '$user' exist?)"
    echo "rabbitmq: $state at $at ($note, full permissions for $user)"
}

# ------------------------------------------------------------------------------------ HAProxy

# The local load balancer of `make run REPLICAS=N` (and of the tests that run replicas): only
# installed here; make run starts and stops its own instance (deploy/local/replicas.py).
ensure_haproxy() {
    if command -v haproxy >/dev/null 2>&1; then
        echo "haproxy: installed ($(command -v haproxy))"
        return
    fi
    apt_install haproxy haproxy
    command -v haproxy >/dev/null 2>&1 || die_with_log "haproxy: not on PATH after install"
}

# ------------------------------------------------------------------------------------ main

load_dotenv "$ROOT/.env"
ensure_postgres
ensure_redis
ensure_rabbitmq
if [[ ${REPLICAS:-1} -ge 2 || -n ${WITH_HAPROXY:-} ]]; then
    ensure_haproxy
fi
