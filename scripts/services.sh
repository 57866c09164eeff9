#!/usr/bin/env bash
# Makes sure the PostgreSQL, Redis, IMAP and SMTP servers that the tests use are up.
#   TEND_TEST_DATABASE_URL   default postgres://postgres@127.0.0.1:5432/postgres
#   TEND_TEST_REDIS_URL      default redis://127.0.0.1:6379
# Mail (crates/mailbox's tests read the same variables with the same defaults):
#   TEND_TEST_MAIL_DIR       default /var/lib/tend-test-mail: certificates, configs, logs, Maildirs
#   TEND_TEST_MAIL_CA        default $TEND_TEST_MAIL_DIR/ca.pem: the CA that signed both servers'
#                            certificate (CN/SAN localhost and 127.0.0.1), made once
#   TEND_TEST_MAIL_HOST      default 127.0.0.1
#   TEND_TEST_IMAPS_PORT     default 10993  IMAP, implicit TLS       (dovecot)
#   TEND_TEST_IMAP_PORT      default 10143  IMAP, STARTTLS or plain  (dovecot)
#   TEND_TEST_SMTP_PORT      default 10025  SMTP, STARTTLS or plain  (postfix)
#   TEND_TEST_SMTPS_PORT     default 10465  SMTP, implicit TLS       (postfix)
#   TEND_TEST_MAIL_USER      default tend, TEND_TEST_MAIL_PASSWORD default tend-test: the one
#                            IMAP user, also accepted for SMTP AUTH (after TLS only)
# Postfix accepts mail for every address @tend.test and hands it over LMTP to dovecot, into the
# test user's mailbox: user+FOLDER@tend.test lands in FOLDER when that folder exists, anything
# else in INBOX. Never relays elsewhere. Two addresses answer with a fixed refusal, for tests:
# tempfail@tend.test gets 451 4.3.0 at RCPT, reject@tend.test 550 5.1.1.
# Both run from their own config directories under TEND_TEST_MAIL_DIR (no systemd, no change to
# /etc/dovecot or /etc/postfix); after a change of config dovecot is reloaded, postfix restarted.
# Logs: $TEND_TEST_MAIL_DIR/dovecot.log and postfix.log.
# A server that answers is left alone. One on this machine that does not is started from its
# Debian package (installed first with apt-get when missing and running as root), then waited
# for. Prints one line per service when all is well; exits non-zero saying what is missing and
# how to fix it otherwise. Safe to run any number of times.
set -euo pipefail

DATABASE_URL="${TEND_TEST_DATABASE_URL:-postgres://postgres@127.0.0.1:5432/postgres}"
REDIS_URL="${TEND_TEST_REDIS_URL:-redis://127.0.0.1:6379}"
WAIT_SECONDS="${TEND_SERVICES_WAIT_SECONDS:-30}"
MAIL_DIR="${TEND_TEST_MAIL_DIR:-/var/lib/tend-test-mail}"
MAIL_CA="${TEND_TEST_MAIL_CA:-$MAIL_DIR/ca.pem}"
MAIL_HOST="${TEND_TEST_MAIL_HOST:-127.0.0.1}"
IMAPS_PORT="${TEND_TEST_IMAPS_PORT:-10993}"
IMAP_PORT="${TEND_TEST_IMAP_PORT:-10143}"
SMTP_PORT="${TEND_TEST_SMTP_PORT:-10025}"
SMTPS_PORT="${TEND_TEST_SMTPS_PORT:-10465}"
MAIL_USER="${TEND_TEST_MAIL_USER:-tend}"
MAIL_PASSWORD="${TEND_TEST_MAIL_PASSWORD:-tend-test}"

say() { printf 'services: %s\n' "$*"; }
problem() { printf 'services: %s\n' "$*" >&2; }

# A URL without its password, for messages.
redact() { sed -E 's#(://[^:/@]*):[^@/]*@#\1:***@#' <<<"$1"; }

# url_host URL / url_port URL DEFAULT: the host and port of scheme://[user[:pass]@]host[:port]/…
url_host() {
    local rest="${1#*://}"
    rest="${rest%%[/?]*}"
    rest="${rest##*@}"
    if [[ "$rest" == \[* ]]; then rest="${rest#[}"; printf '%s' "${rest%%]*}"; else printf '%s' "${rest%%:*}"; fi
}
url_port() {
    local rest="${1#*://}"
    rest="${rest%%[/?]*}"
    rest="${rest##*@}"
    rest="${rest##*]}"
    if [[ "$rest" == *:* && -n "${rest##*:}" ]]; then printf '%s' "${rest##*:}"; else printf '%s' "$2"; fi
}
is_local() {
    case "$1" in "" | 127.* | localhost | ::1 | /*) return 0 ;; *) return 1 ;; esac
}
is_root() { [[ $EUID -eq 0 ]]; }

# Waits until "$@" succeeds, at most WAIT_SECONDS.
wait_for() {
    local deadline=$((SECONDS + WAIT_SECONDS))
    until "$@"; do
        ((SECONDS < deadline)) || return 1
        sleep 0.5
    done
}

apt_install() {
    export DEBIAN_FRONTEND=noninteractive
    apt-get install -y -qq "$@" >/dev/null 2>&1 && return 0
    apt-get update -qq >/dev/null 2>&1 || true
    apt-get install -y -qq "$@" >/dev/null 2>&1
}

# ---- PostgreSQL ---------------------------------------------------------------------------
pg_up() {
    if command -v pg_isready >/dev/null 2>&1; then
        pg_isready -q -t 2 -d "$DATABASE_URL"
    else
        # No client tools: settle for the port answering.
        timeout 2 bash -c "exec 3<>/dev/tcp/$(url_host "$DATABASE_URL")/$(url_port "$DATABASE_URL" 5432)" 2>/dev/null
    fi
}
# shellcheck disable=SC2012 # version directories: plain names
pg_version() { ls /etc/postgresql 2>/dev/null | sort -V | tail -n 1; }
pg_installed() { command -v pg_ctlcluster >/dev/null 2>&1 && [[ -n "$(pg_version)" ]]; }

ensure_postgres() {
    local shown host installed_now=no
    shown="$(redact "$DATABASE_URL")"
    host="$(url_host "$DATABASE_URL")"
    if ! pg_up; then
        if ! is_local "$host"; then
            problem "PostgreSQL is not reachable at $shown, and that is not this machine: start it there, or set TEND_TEST_DATABASE_URL to a server that runs."
            return 1
        fi
        if ! pg_installed && is_root && command -v apt-get >/dev/null 2>&1; then
            say "PostgreSQL is not installed: apt-get install postgresql"
            apt_install postgresql || {
                problem "apt-get install postgresql failed. Install PostgreSQL yourself, or set TEND_TEST_DATABASE_URL to a running server."
                return 1
            }
            installed_now=yes
        fi
        if ! pg_installed; then
            problem "PostgreSQL is not reachable at $shown and its Debian package is not installed. Fix: apt-get install postgresql (as root; this script does it when run as root), or set TEND_TEST_DATABASE_URL to a running server."
            return 1
        fi
        local version
        version="$(pg_version)"
        if ! pg_ctlcluster "$version" main status >/dev/null 2>&1; then
            if ! is_root && [[ "$(id -un)" != postgres ]]; then
                problem "PostgreSQL $version is installed but stopped. Fix: sudo pg_ctlcluster --skip-systemctl-redirect $version main start (or run this script as root)."
                return 1
            fi
            pg_ctlcluster --skip-systemctl-redirect "$version" main start >/dev/null 2>&1 || true
        fi
        if [[ $installed_now == yes ]]; then
            # A fresh Debian cluster asks for passwords over TCP; the tests connect as postgres
            # with none, as on the prepared machines. Trust local TCP connections (a test machine).
            local hba="/etc/postgresql/$version/main/pg_hba.conf"
            sed -i -E 's#^(host\s+all\s+all\s+(127\.0\.0\.1/32|::1/128)\s+)\S+#\1trust#' "$hba"
            pg_ctlcluster --skip-systemctl-redirect "$version" main reload >/dev/null 2>&1 || true
        fi
        if ! wait_for pg_up; then
            problem "PostgreSQL $version did not come up at $shown within ${WAIT_SECONDS}s (see /var/log/postgresql/postgresql-$version-main.log; pg_lsclusters shows its port). Fix the server, or set TEND_TEST_DATABASE_URL to one that runs."
            return 1
        fi
    fi
    # Accepting connections is not enough: check that the tests can log in.
    if command -v psql >/dev/null 2>&1 && ! psql "$DATABASE_URL" -XAtqc 'select 1' >/dev/null 2>&1; then
        problem "PostgreSQL answers at $shown but refuses the login: $(psql "$DATABASE_URL" -XAtqc 'select 1' 2>&1 | head -n 1). Fix the user/password in TEND_TEST_DATABASE_URL or pg_hba.conf."
        return 1
    fi
    say "postgresql up at $shown"
}

# ---- Redis --------------------------------------------------------------------------------
redis_up() {
    if command -v redis-cli >/dev/null 2>&1; then
        [[ "$(timeout 3 redis-cli -u "$REDIS_URL" --no-auth-warning ping 2>/dev/null)" == PONG ]]
    else
        # shellcheck disable=SC2016 # expanded by the inner bash
        timeout 2 bash -c '
            exec 3<>"/dev/tcp/$1/$2" || exit 1
            printf "PING\r\n" >&3
            IFS= read -r line <&3
            [[ "$line" == +PONG* ]]' _ "$(url_host "$REDIS_URL")" "$(url_port "$REDIS_URL" 6379)" 2>/dev/null
    fi
}

ensure_redis() {
    local shown host port
    shown="$(redact "$REDIS_URL")"
    host="$(url_host "$REDIS_URL")"
    port="$(url_port "$REDIS_URL" 6379)"
    if ! redis_up; then
        if ! is_local "$host"; then
            problem "Redis is not reachable at $shown, and that is not this machine: start it there, or set TEND_TEST_REDIS_URL to a server that runs."
            return 1
        fi
        if ! command -v redis-server >/dev/null 2>&1 && is_root && command -v apt-get >/dev/null 2>&1; then
            say "Redis is not installed: apt-get install redis-server"
            apt_install redis-server || {
                problem "apt-get install redis-server failed. Install Redis yourself, or set TEND_TEST_REDIS_URL to a running server."
                return 1
            }
        fi
        if ! command -v redis-server >/dev/null 2>&1; then
            problem "Redis is not reachable at $shown and redis-server is not installed. Fix: apt-get install redis-server (as root; this script does it when run as root), or set TEND_TEST_REDIS_URL to a running server."
            return 1
        fi
        # The package's own start may have brought it up already.
        if ! redis_up; then
            local dir=/var/lib/redis logdir=/var/log/redis
            if ! is_root; then
                dir="${TMPDIR:-/tmp}/tend-redis"
                logdir="$dir"
            fi
            mkdir -p "$dir" "$logdir"
            # Nothing is kept on disk: test data only.
            redis-server --daemonize yes --bind 127.0.0.1 -::1 --port "$port" --save "" --appendonly no \
                --dir "$dir" --logfile "$logdir/ci.log" >/dev/null 2>&1 || true
            if ! wait_for redis_up; then
                problem "Redis did not come up at $shown within ${WAIT_SECONDS}s (see $logdir/ci.log). Fix the server, or set TEND_TEST_REDIS_URL to one that runs."
                return 1
            fi
        fi
    fi
    say "redis up at $shown"
}

# ---- Mail: dovecot (IMAP, LMTP) and postfix (SMTP) --------------------------------------
DOVECOT_CONF="$MAIL_DIR/dovecot/dovecot.conf"
POSTFIX_DIR="$MAIL_DIR/postfix"

# tls_ok PORT [PROTOCOL]: a TLS handshake (after STARTTLS when PROTOCOL is given) that verifies
# against MAIL_CA. Without openssl there is nothing to check it with: the tests will.
tls_ok() {
    command -v openssl >/dev/null 2>&1 || return 0
    [[ -r "$MAIL_CA" ]] || return 1
    local starttls=()
    [[ $# -gt 1 ]] && starttls=(-starttls "$2")
    timeout 5 openssl s_client -connect "$MAIL_HOST:$1" "${starttls[@]}" -CAfile "$MAIL_CA" \
        -verify_return_error -brief </dev/null >/dev/null 2>&1
}

# The plain IMAP port greets and lets the test user log in (dovecot counts loopback as secure).
imap_login_ok() {
    # shellcheck disable=SC2016 # expanded by the inner bash
    timeout 5 bash -c '
        exec 3<>"/dev/tcp/$1/$2" || exit 1
        IFS= read -r line <&3 && [[ "$line" == "* OK"* ]] || exit 1
        printf "a LOGIN \"%s\" \"%s\"\r\nb LOGOUT\r\n" "$3" "$4" >&3
        while IFS= read -r line <&3; do
            [[ "$line" == "a OK"* ]] && exit 0
            [[ "$line" == "a "* ]] && exit 1
        done
        exit 1' _ "$MAIL_HOST" "$IMAP_PORT" "$MAIL_USER" "$MAIL_PASSWORD" 2>/dev/null
}
imap_up() { imap_login_ok && tls_ok "$IMAPS_PORT" && tls_ok "$IMAP_PORT" imap; }

# The plain SMTP port greets with 220 and answers EHLO.
smtp_greets() {
    # shellcheck disable=SC2016 # expanded by the inner bash
    timeout 5 bash -c '
        exec 3<>"/dev/tcp/$1/$2" || exit 1
        IFS= read -r line <&3 && [[ "$line" == 220* ]] || exit 1
        printf "EHLO services.tend.test\r\n" >&3
        while IFS= read -r line <&3; do
            [[ "$line" == "250 "* ]] && { printf "QUIT\r\n" >&3; exit 0; }
            [[ "$line" == 250-* ]] || exit 1
        done
        exit 1' _ "$MAIL_HOST" "$SMTP_PORT" 2>/dev/null
}
smtp_up() { smtp_greets && tls_ok "$SMTPS_PORT" && tls_ok "$SMTP_PORT" smtp; }

mail_shown() {
    printf 'imap %s:%s (tls) and :%s (starttls), smtp :%s (starttls) and :%s (tls), user %s, CA %s' \
        "$MAIL_HOST" "$IMAPS_PORT" "$IMAP_PORT" "$SMTP_PORT" "$SMTPS_PORT" "$MAIL_USER" "$MAIL_CA"
}

# put_file FILE MODE [OWNER]: writes stdin to FILE when that changes it, and then says so in
# MAIL_CHANGED (a running server is reloaded).
put_file() {
    local file="$1" mode="$2" owner="${3:-root:root}" tmp
    tmp="$(mktemp "$file.XXXXXX")"
    cat >"$tmp"
    chmod "$mode" "$tmp"
    chown "$owner" "$tmp"
    if [[ -f "$file" ]] && cmp -s "$tmp" "$file"; then
        rm -f "$tmp"
        return 0
    fi
    mv -f "$tmp" "$file"
    MAIL_CHANGED=yes
}

# A CA and a server certificate it signed (localhost, 127.0.0.1), made once; again only when a
# file is missing, does not verify, or expires within 30 days.
make_mail_certs() {
    local dir="$MAIL_DIR"
    if [[ -s "$dir/ca.pem" && -s "$dir/ca.key" && -s "$dir/server.pem" && -s "$dir/server.key" ]] &&
        openssl x509 -checkend 2592000 -noout -in "$dir/server.pem" >/dev/null 2>&1 &&
        openssl verify -CAfile "$dir/ca.pem" "$dir/server.pem" >/dev/null 2>&1; then
        return 0
    fi
    local work
    work="$(mktemp -d "$dir/certs.XXXXXX")"
    (
        cd "$work"
        umask 077
        openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -days 3650 \
            -subj "/O=Tend tests/CN=Tend test mail CA" -keyout ca.key -out ca.pem \
            -addext "basicConstraints=critical,CA:TRUE" -addext "keyUsage=critical,keyCertSign,cRLSign"
        openssl req -new -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes \
            -subj "/O=Tend tests/CN=localhost" -keyout server.key -out server.csr
        printf '%s\n' "subjectAltName=DNS:localhost,IP:127.0.0.1" "basicConstraints=critical,CA:FALSE" \
            "keyUsage=critical,digitalSignature" "extendedKeyUsage=serverAuth" >server.ext
        openssl x509 -req -in server.csr -CA ca.pem -CAkey ca.key -CAcreateserial -days 3650 \
            -extfile server.ext -out server.pem
    ) >"$work/openssl.log" 2>&1 || {
        problem "making the test mail certificates failed: $(tail -n 3 "$work/openssl.log")"
        return 1
    }
    chmod 644 "$work/ca.pem" "$work/server.pem"
    chmod 600 "$work/ca.key" "$work/server.key"
    mv -f "$work/ca.key" "$work/ca.pem" "$work/server.key" "$work/server.pem" "$dir/"
    rm -rf "$work"
    MAIL_CHANGED=yes
}

write_dovecot_conf() {
    local dir="$MAIL_DIR"
    install -d -m 755 "$dir/dovecot"
    install -d -m 700 -o mail -g mail "$dir/mail"
    # One user; the same file is the passdb and the userdb (LMTP delivery looks the user up).
    printf '%s:{PLAIN}%s::::::\n' "$MAIL_USER" "$MAIL_PASSWORD" | put_file "$dir/dovecot/passwd" 640 root:dovecot
    put_file "$DOVECOT_CONF" 644 <<EOF
# Tend's test IMAP server. Written by scripts/services.sh: edits here are overwritten.
# Runs as: dovecot -c $DOVECOT_CONF
instance_name = tend-test
base_dir = $dir/dovecot/run
state_dir = $dir/dovecot/state
log_path = $dir/dovecot.log
protocols = imap lmtp
listen = 127.0.0.1

ssl = yes
ssl_cert = <$dir/server.pem
ssl_key = <$dir/server.key
ssl_dh = </usr/share/dovecot/dh.pem
ssl_min_protocol = TLSv1.2

auth_mechanisms = plain login
# No delay after a failed login, and no penalty for the address (all tests come from 127.0.0.1:
# the penalty would hold up every login for seconds after a test of a wrong password).
auth_failure_delay = 0
service anvil {
  unix_listener anvil-auth-penalty {
    mode = 0
  }
}
passdb {
  driver = passwd-file
  args = scheme=PLAIN username_format=%n $dir/dovecot/passwd
}
userdb {
  driver = passwd-file
  args = username_format=%n $dir/dovecot/passwd
  default_fields = uid=mail gid=mail home=$dir/mail/%n
}
first_valid_uid = $(id -u mail)
last_valid_uid = $(id -u mail)
first_valid_gid = $(id -g mail)

mail_location = maildir:~/Maildir
namespace inbox {
  inbox = yes
}
# Tests run in parallel: many sessions of one user from one address.
mail_max_userip_connections = 500

# Postfix hands mail over here; user+folder@ goes into "folder" when it exists.
recipient_delimiter = +
lmtp_save_to_detail_mailbox = yes
service lmtp {
  unix_listener lmtp {
    mode = 0666
  }
}
# SMTP AUTH in postfix asks dovecot.
service auth {
  unix_listener auth-postfix {
    mode = 0666
  }
}
service imap-login {
  inet_listener imap {
    address = 127.0.0.1
    port = $IMAP_PORT
  }
  inet_listener imaps {
    address = 127.0.0.1
    port = $IMAPS_PORT
    ssl = yes
  }
}
EOF
}

write_postfix_conf() {
    local dir="$MAIL_DIR" pdir="$POSTFIX_DIR"
    # The queue is not under the config directory: postfix wants all of that owned by root.
    install -d -m 755 "$pdir" "$dir/postfix-queue"
    install -d -m 700 -o postfix -g postfix "$dir/postfix-data"
    put_file "$pdir/main.cf" 644 <<EOF
# Tend's test SMTP server. Written by scripts/services.sh: edits here are overwritten.
# Runs as: postfix -c $pdir start
compatibility_level = 3.6
queue_directory = $dir/postfix-queue
data_directory = $dir/postfix-data
meta_directory = /etc/postfix
maillog_file = $dir/postfix.log
inet_interfaces = 127.0.0.1
inet_protocols = ipv4
myhostname = mail.tend.test
mydomain = tend.test
myorigin = tend.test
mydestination =
mynetworks = 127.0.0.0/8
relayhost =
alias_maps =
alias_database =
biff = no
smtpd_banner = \$myhostname ESMTP Tend test server

# Every address @tend.test goes to the one dovecot user over LMTP; nothing leaves this machine.
virtual_mailbox_domains = tend.test
virtual_alias_maps = regexp:$pdir/virtual.regexp
virtual_transport = lmtp:unix:$dir/dovecot/run/lmtp
recipient_delimiter = +
local_transport = error:5.1.1 the test server delivers to @tend.test only
relay_transport = error:5.1.1 the test server delivers to @tend.test only
default_transport = error:5.1.1 the test server delivers to @tend.test only
smtpd_relay_restrictions = reject_unauth_destination
smtpd_recipient_restrictions = check_recipient_access regexp:$pdir/recipient_access.regexp

smtpd_tls_security_level = may
smtpd_tls_cert_file = $dir/server.pem
smtpd_tls_key_file = $dir/server.key
smtpd_tls_auth_only = yes
smtpd_sasl_auth_enable = yes
smtpd_sasl_type = dovecot
smtpd_sasl_path = $dir/dovecot/run/auth-postfix
EOF
    put_file "$pdir/virtual.regexp" 644 <<EOF
/^[^@+]+\+([^@]+)@tend\.test\$/    $MAIL_USER+\${1}@tend.test
/^[^@]+@tend\.test\$/              $MAIL_USER@tend.test
EOF
    put_file "$pdir/recipient_access.regexp" 644 <<'EOF'
/^tempfail@tend\.test$/    451 4.3.0 temporary failure, on purpose (Tend test server)
/^reject@tend\.test$/      550 5.1.1 mailbox unavailable, on purpose (Tend test server)
EOF
    # Debian's services, none chrooted (the queue is not under /var/spool/postfix), with our
    # two listeners instead of port 25.
    put_file "$pdir/master.cf" 644 <<EOF
# service type  private unpriv  chroot  wakeup  maxproc command + args
127.0.0.1:$SMTP_PORT inet n - n - - smtpd
127.0.0.1:$SMTPS_PORT inet n - n - - smtpd -o smtpd_tls_wrappermode=yes
pickup    unix  n       -       n       60      1       pickup
cleanup   unix  n       -       n       -       0       cleanup
qmgr      unix  n       -       n       300     1       qmgr
tlsmgr    unix  -       -       n       1000?   1       tlsmgr
rewrite   unix  -       -       n       -       -       trivial-rewrite
bounce    unix  -       -       n       -       0       bounce
defer     unix  -       -       n       -       0       bounce
trace     unix  -       -       n       -       0       bounce
verify    unix  -       -       n       -       1       verify
flush     unix  n       -       n       1000?   0       flush
proxymap  unix  -       -       n       -       -       proxymap
proxywrite unix -       -       n       -       1       proxymap
smtp      unix  -       -       n       -       -       smtp
relay     unix  -       -       n       -       -       smtp
showq     unix  n       -       n       -       -       showq
error     unix  -       -       n       -       -       error
retry     unix  -       -       n       -       -       error
discard   unix  -       -       n       -       -       discard
lmtp      unix  -       -       n       -       -       lmtp
anvil     unix  -       -       n       -       1       anvil
scache    unix  -       -       n       -       1       scache
postlog   unix-dgram n  -       n       -       1       postlogd
EOF
}

mail_installed() {
    command -v dovecot >/dev/null 2>&1 && [[ -x /usr/lib/dovecot/imap && -x /usr/lib/dovecot/lmtp ]] &&
        command -v postfix >/dev/null 2>&1 && command -v openssl >/dev/null 2>&1
}
postfix_running() { postfix -c "$POSTFIX_DIR" status >/dev/null 2>&1; }
# shellcheck disable=SC2317 # called through wait_for
postfix_stopped() { ! postfix_running; }
# The pid file may outlive a reboot and name another process by now: check it is dovecot, and
# drop a stale file (dovecot refuses to start while its pid is alive).
dovecot_running() {
    local pidfile="$MAIL_DIR/dovecot/run/master.pid" pid
    pid="$(cat "$pidfile" 2>/dev/null)" || return 1
    if [[ -n "$pid" && "$(cat "/proc/$pid/comm" 2>/dev/null)" == dovecot ]]; then
        return 0
    fi
    rm -f "$pidfile"
    return 1
}

ensure_mail() {
    local shown
    shown="$(mail_shown)"
    if ! is_local "$MAIL_HOST"; then
        if imap_up && smtp_up; then
            say "mail up: $shown"
            return 0
        fi
        problem "the mail servers are not all reachable ($shown), and $MAIL_HOST is not this machine: start them there, or unset TEND_TEST_MAIL_HOST to use local ones."
        return 1
    fi
    if ! is_root; then
        # Only root can write the configs and start the servers; ones that run are fine as they are.
        if imap_up && smtp_up; then
            say "mail up: $shown"
            return 0
        fi
        problem "the test mail servers are not up ($shown). Fix: run this script as root once (sudo bash scripts/services.sh): it installs dovecot-imapd, dovecot-lmtpd and postfix and starts them from $MAIL_DIR."
        return 1
    fi
    if ! mail_installed; then
        if ! command -v apt-get >/dev/null 2>&1; then
            problem "dovecot (imapd, lmtpd), postfix or openssl is not installed and there is no apt-get. Install them yourself, then run this script again."
            return 1
        fi
        say "mail servers are not installed: apt-get install dovecot-imapd dovecot-lmtpd postfix"
        # No system-wide postfix config: ours runs from its own directory. --no-remove: never
        # swap out a mail server this machine already has (postfix conflicts with exim4).
        echo "postfix postfix/main_mailer_type select No configuration" | debconf-set-selections 2>/dev/null || true
        apt_install --no-remove dovecot-imapd dovecot-lmtpd postfix openssl || {
            problem "apt-get install dovecot-imapd dovecot-lmtpd postfix failed (another MTA such as exim4 installed? this script does not let apt-get remove it). Install them yourself, then run this script again."
            return 1
        }
    fi
    MAIL_CHANGED=no
    install -d -m 755 "$MAIL_DIR"
    make_mail_certs || return 1
    write_dovecot_conf
    write_postfix_conf

    # dovecot first: postfix delivers and authenticates through its sockets.
    if dovecot_running; then
        if [[ $MAIL_CHANGED == yes ]]; then dovecot -c "$DOVECOT_CONF" reload >/dev/null 2>&1 || true; fi
    elif ! dovecot -c "$DOVECOT_CONF" >"$MAIL_DIR/dovecot-start.log" 2>&1; then
        problem "dovecot did not start: $(tail -n 3 "$MAIL_DIR/dovecot-start.log") (see also $MAIL_DIR/dovecot.log)"
        return 1
    fi
    # A reload does not move the queue: restart postfix when its config changed.
    if [[ $MAIL_CHANGED == yes ]] && postfix_running; then
        postfix -c "$POSTFIX_DIR" stop >/dev/null 2>&1 || true
        wait_for postfix_stopped || true
    fi
    if postfix_running; then
        :
    elif ! postfix -c "$POSTFIX_DIR" start >"$MAIL_DIR/postfix-start.log" 2>&1; then
        problem "postfix did not start: $(tail -n 3 "$MAIL_DIR/postfix-start.log") (see also $MAIL_DIR/postfix.log)"
        return 1
    fi
    if ! wait_for imap_up; then
        problem "dovecot did not come up ($shown) within ${WAIT_SECONDS}s: see $MAIL_DIR/dovecot.log."
        return 1
    fi
    if ! wait_for smtp_up; then
        problem "postfix did not come up ($shown) within ${WAIT_SECONDS}s: see $MAIL_DIR/postfix.log."
        return 1
    fi
    say "mail up: $shown"
}

status=0
ensure_postgres || status=1
ensure_redis || status=1
ensure_mail || status=1
exit "$status"
