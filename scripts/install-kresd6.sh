#!/usr/bin/env bash
# Install kresd 6 (Knot Resolver 6.5.0: kresd, kres-cache-gc and Knot Resolver 6's own Python
# manager and kresctl) on Debian 12 (bookworm), from Debian sid's binary packages, unpacked into
# a prefix (default /opt/kr6). Nothing is compiled. Run as root:  bash scripts/install-kresd6.sh
#
# Idempotent and quick when done: a stamp file ($PREFIX/.install-kresd6.stamp) records the
# requested pins and the versions taken; a run with a matching stamp only checks that
# `$PREFIX/sbin/kresd --version` (LD_BIND_NOW=1) still prints the recorded version, and redoes
# the whole installation when that check fails. KRES_KR6_FORCE=1 redoes it anyway.
#
# How:
#   1. bookworm packages via the system apt (only `apt-get install`; `apt-get update` only when
#      apt knows no candidate): patchelf, dns-root-data (/usr/share/dns/root.{key,hints}), the
#      libraries kresd 6 takes from bookworm (libuv1 libgnutls30 libluajit-5.1-2 liblmdb0
#      libnghttp2-14 libsystemd0 libjemalloc2 libcap-ng0 libstdc++6 libgcc-s1 libbpf1 libxdp1,
#      and libfstrm0 libprotobuf-c1 for the dnstap module),
#      and the manager's Python deps (python3 python3-aiohttp python3-jinja2 python3-yaml
#      python3-prometheus-client python3-watchdog supervisor, which is 4.2.5 in bookworm).
#      Also the system user/group knot-resolver when missing (as knot-resolver 5.6's package
#      makes it). NB: on a machine running systemd, Debian's supervisor package enables and
#      starts its own (empty) supervisor.service; this script leaves that alone.
#   2. sid's binary packages with a private apt setup under $KRES_KR6_APT_DIR (default
#      /var/tmp/install-kresd6): own sources.list (`sid main` of the archive the machine's
#      bookworm source names, or $KRES_KR6_MIRROR), own lists, cache, state and status, no
#      update hooks; the system's apt lists, cache and sources are not touched. Pinned versions
#      (SID_PINS below) with a fallback to whatever sid has (logged). Then `dpkg-deb -x`.
#   3. sid's packages need GLIBC_2.38 (bookworm has 2.36), so sid's libc6 is unpacked into the
#      prefix too and used ONLY by the ELF files patched here: kresd's and kres-cache-gc's ELF
#      interpreter is $PREFIX/x86_64-linux-gnu/ld-linux-x86-64.so.2 and every ELF file from the
#      knot-resolver6/libknot/libdnssec/libzscanner/libngtcp2 packages gets
#      RUNPATH=$PREFIX/x86_64-linux-gnu:$PREFIX (patchelf). The prefix is in no ld.so.conf (sid
#      libc6's etc/ld.so.conf.d is not installed) and nothing sets LD_LIBRARY_PATH, so bookworm
#      programs never see sid's libc. Every other library is bookworm's (found through the
#      system's /etc/ld.so.cache). Where a bookworm library needs a glibc stub that no patched
#      file names (liblmdb0 needs libpthread.so.0), the stub is added to the executables' NEEDED
#      so that the prefix's is loaded, never bookworm's next to sid's libc (checked). sid libc's
#      compiled-in gconv directory is rewritten to the prefix's (never bookworm's gconv modules).
#   4. kresd 6.5.0 has /usr/lib paths compiled in (/usr/lib/knot-resolver/{sandbox,postconfig}.lua,
#      /usr/lib/knot-resolver/kres_modules, and /usr/lib/x86_64-linux-gnu/{libknot.so.16,
#      libzscanner.so.5} for LuaJIT's ffi.load). Those bytes are rewritten in place with the
#      prefix (same length: the prefix is at most 8 bytes, a shorter one is padded with '/').
#   5. Knot Resolver 6's manager: knot_resolver/constants.py is patched so that SBIN_DIR is
#      $PREFIX/sbin and MANAGER_EXECUTABLE (which its supervisord runs) is
#      $PREFIX/bin/kr6-kres-manager; unpatched it would run /usr/bin/kres-manager, which is OUR
#      project's binary. Wrappers (named kr6-*, never kres-manager/kresctl, which are our
#      project's names) run bookworm's /usr/bin/python3 with
#      PYTHONPATH=$PREFIX/python3/dist-packages and $PREFIX/libexec/kr6-path (supervisord,
#      supervisorctl -> bookworm's /usr/bin ones) first on PATH, so that its
#      `shutil.which("supervisord")` never finds another supervisord (e.g. our venv's 4.3):
#        kr6-knot-resolver  the launcher (6.5.0's `knot-resolver`, what its systemd unit runs):
#                           `kr6-knot-resolver -c config.yaml` chdirs to /rundir, writes
#                           supervisord.conf there and execs supervisord, which runs
#                           kr6-kres-manager, the policy-loader, the kresd workers and the GC
#        kr6-kres-manager   the manager process itself (6.5.0's `kres-manager`); it is meant to
#                           be started by supervisord: run alone it fails at start-up
#        kr6-kresctl        6.5.0's `kresctl` (validate, convert, schema, and the API client)
#      Nothing goes into /usr/bin, /usr/local/bin or /etc/knot-resolver.
#
# Layout (PREFIX=/opt/kr6; each sid package's usr/lib/* is placed at $PREFIX/*):
#   $PREFIX/sbin/kresd, $PREFIX/sbin/kres-cache-gc   kresd 6 and its cache GC (patched)
#   $PREFIX/libkres.so.9                             (usr/lib/libkres.so.9)
#   $PREFIX/knot-resolver/                           sandbox.lua, postconfig.lua, kres_modules/...
#   $PREFIX/x86_64-linux-gnu/                        libknot.so.16 libdnssec.so.10 libzscanner.so.5
#                                                    libngtcp2*.so, and sid's glibc incl.
#                                                    ld-linux-x86-64.so.2 and gconv/
#   $PREFIX/python3/dist-packages/knot_resolver/     Knot Resolver 6's manager and kresctl
#   $PREFIX/bin/kr6-knot-resolver, kr6-kres-manager, kr6-kresctl   the wrappers (see 5.)
#   $PREFIX/libexec/kr6-path/                        supervisord, supervisorctl (symlinks)
#   $PREFIX/etc/knot-resolver/config.yaml            the package's example config (not used)
#   $PREFIX/share/                                   man pages, docs, copyright files
#   $PREFIX/.install-kresd6.stamp                    what was installed
# Not installed from the packages: usr/bin (replaced by the wrappers), usr/lib/systemd,
# usr/lib/sysusers.d, /var, /etc/ld.so.conf.d, usr/lib64.
#
# Compiled-in paths that remain (strings of kresd/libkres/modules/Lua files):
#   /usr/share/dns/root.hints, /usr/share/dns/root.key   bookworm's dns-root-data: used (the
#       default root hints and trust anchor; a test config usually does trust_anchors.remove('.'))
#   /etc/hosts (hints module), /etc/resolv.conf etc. (glibc)  system files, fine
#   /etc/knot-resolver/icann-ca.pem (trust_anchors.lua)  only for bootstrapping a missing
#       keyfile over HTTPS; not used
#   /run/knot-resolver/control/, /var/cache/knot-resolver (distro-preconfig.lua)  only when that
#       file is loaded explicitly; not loaded by default
#   manager constants.py: /etc/knot-resolver/config.yaml (default config), /run/knot-resolver
#       (default rundir, kres-api.sock), /var/cache/knot-resolver (default cache): defaults
#       only, a test config sets rundir/cache and passes its config path
#   sid glibc: /usr/lib/locale/locale-archive (bookworm's; C locale is what kresd uses)
#
# Seen on 6.5.0 (2026-12), worth knowing when writing tests against it: net.close(addr, port)
# on a TCP or unix-socket listener segfaults kresd (handle->data is NULL for listening TCP/pipe
# handles and endpoint_close() passes it to session2_close()); `dnssec: false` is no longer
# valid YAML config (it is `dnssec: {enable: false}`); the launcher runs everything as the user
# that starts it (as root it only warns).
#
# Environment:
#   KRES_KR6_PREFIX   install prefix (default /opt/kr6): absolute, at most 8 bytes, not inside a
#                     system directory
#   KRES_KR6_APT_DIR  the private apt state and downloads (default /var/tmp/install-kresd6)
#   KRES_KR6_MIRROR   the Debian archive to take sid from (default: the bookworm source's URI)
#   KRES_KR6_FORCE    1 = redo the installation even when the stamp matches
set -euo pipefail

log() { printf '[install-kresd6] %s\n' "$*"; }
die() { printf '[install-kresd6] ERROR: %s\n' "$*" >&2; exit 1; }

# Sid packages, pinned; when a pinned version is gone from sid, sid's candidate is taken.
SID_PINS=(
    knot-resolver6=6.5.0-2
    libknot16=3.5.8-1
    libdnssec10=3.5.8-1
    libzscanner5=3.5.8-1
    libngtcp2-16=1.24.0-1
    libngtcp2-crypto-gnutls8=1.24.0-1
    libc6=2.43-7
    knot-resolver6-module-dnstap=6.5.0-2
)
# From bookworm, through the system apt.
BOOKWORM_PACKAGES=(
    patchelf dns-root-data
    libuv1 libgnutls30 libluajit-5.1-2 liblmdb0 libnghttp2-14 libsystemd0 libjemalloc2
    libcap-ng0 libstdc++6 libgcc-s1 libbpf1 libxdp1 libfstrm0 libprotobuf-c1
    python3 python3-aiohttp python3-jinja2 python3-yaml python3-prometheus-client
    python3-watchdog supervisor
)
# Bump when the layout or the patching changes: a stamp with another value means "redo".
LAYOUT_VERSION=1
SERVICE_USER=knot-resolver
PYTHON=/usr/bin/python3
START_SECONDS=$SECONDS

# ---------------------------------------------------------------------------------------
# Prefix
# ---------------------------------------------------------------------------------------
PREFIX="${KRES_KR6_PREFIX:-/opt/kr6}"
while [[ "$PREFIX" == */ && "$PREFIX" != / ]]; do PREFIX="${PREFIX%/}"; done
[[ "$PREFIX" =~ ^/[A-Za-z0-9._/-]+$ ]] \
    || die "KRES_KR6_PREFIX='$PREFIX': must be an absolute path of letters, digits, '.', '_', '-', '/'"
if (( ${#PREFIX} > 8 )); then
    die "KRES_KR6_PREFIX='$PREFIX' is ${#PREFIX} bytes; at most 8 are possible: kresd's compiled-in '/usr/lib' (8 bytes) is rewritten in place with the prefix (default /opt/kr6)"
fi
case "$PREFIX/" in
    /usr/* | /lib*/* | /bin/* | /sbin/* | /etc/* | /var/* | /run/* | /proc/* | /sys/* | /dev/* | /boot/* | /tmp/* | /root/*)
        die "KRES_KR6_PREFIX='$PREFIX': refusing a prefix inside a system directory (it holds a private glibc); use e.g. /opt/kr6" ;;
esac
[[ "$PREFIX" != */../* && "$PREFIX" != */.. && "$PREFIX" != */./* && "$PREFIX" != *//* ]] \
    || die "KRES_KR6_PREFIX='$PREFIX': no '.', '..' or '//' components, please"
# The replacement for the 8 bytes '/usr/lib': the prefix padded with '/'.
PAD="$PREFIX"
while (( ${#PAD} < 8 )); do PAD="$PAD/"; done

STAMP="$PREFIX/.install-kresd6.stamp"
STAGING_MARK=".install-kresd6.staging"
APT_DIR="${KRES_KR6_APT_DIR:-/var/tmp/install-kresd6}"
PINS_ID="${SID_PINS[*]}"
LIBDIR="$PREFIX/x86_64-linux-gnu"
INTERP="$LIBDIR/ld-linux-x86-64.so.2"

# ---------------------------------------------------------------------------------------
# Preconditions
# ---------------------------------------------------------------------------------------
[[ "$(id -u)" -eq 0 ]] || die "run as root (it installs bookworm packages and writes $PREFIX)"
command -v dpkg >/dev/null && command -v apt-get >/dev/null \
    || die "dpkg/apt-get not found: this script is for Debian 12 (bookworm)"
ARCH="$(dpkg --print-architecture)"
[[ "$ARCH" == amd64 ]] || die "architecture $ARCH: only amd64 is supported (x86_64 paths are built in)"
CODENAME="$(. /etc/os-release 2>/dev/null && echo "${VERSION_CODENAME:-}")"
if [[ "$CODENAME" != bookworm ]]; then
    log "WARNING: this is '${CODENAME:-unknown}', not Debian 12 (bookworm); continuing anyway"
fi
for tool in flock perl dpkg-deb; do
    command -v "$tool" >/dev/null || die "'$tool' not found (it is part of every Debian system)"
done

mkdir -p "$(dirname "$PREFIX")"
LOCK="/run/lock/install-kresd6$(printf '%s' "$PREFIX" | tr '/' '_').lock"
[[ -d /run/lock ]] || LOCK="$(dirname "$PREFIX")/.install-kresd6$(printf '%s' "$PREFIX" | tr '/' '_').lock"
exec 9>"$LOCK"
if ! flock -n 9; then
    log "another install-kresd6 run holds $LOCK; waiting"
    flock 9
fi

# ---------------------------------------------------------------------------------------
# 1. bookworm packages
# ---------------------------------------------------------------------------------------
bookworm_packages() {
    local missing=() pkg status
    for pkg in "${BOOKWORM_PACKAGES[@]}"; do
        status="$(dpkg-query -W -f='${db:Status-Status}' "$pkg" 2>/dev/null || true)"
        [[ "$status" == installed ]] || missing+=("$pkg")
    done
    if [[ ${#missing[@]} -eq 0 ]]; then
        log "bookworm packages present (${#BOOKWORM_PACKAGES[@]})"
    else
        log "bookworm packages missing: ${missing[*]}"
        export DEBIAN_FRONTEND=noninteractive
        local need_update=0 candidate
        for pkg in "${missing[@]}"; do
            candidate="$(apt-cache policy "$pkg" 2>/dev/null | awk '/Candidate:/ {print $2}')"
            if [[ -z "$candidate" || "$candidate" == "(none)" ]]; then need_update=1; break; fi
        done
        if [[ $need_update -eq 1 ]]; then
            log "running: apt-get update"
            apt-get update || die "apt-get update failed"
        fi
        log "running: apt-get install -y --no-install-recommends ${missing[*]}"
        if ! apt-get install -y --no-install-recommends "${missing[@]}"; then
            log "install failed; running apt-get update and retrying once"
            apt-get update || die "apt-get update failed"
            apt-get install -y --no-install-recommends "${missing[@]}" \
                || die "apt-get install ${missing[*]} failed"
        fi
        local sv
        sv="$(dpkg-query -W -f='${Version}' supervisor 2>/dev/null || true)"
        [[ "$sv" == 4.2.* ]] || log "WARNING: supervisor is '$sv', not bookworm's 4.2.5 (Knot Resolver 6's manager was checked with 4.2.5)"
    fi
    [[ -x "$PYTHON" ]] || die "$PYTHON missing after installing python3"
    if ! getent passwd "$SERVICE_USER" >/dev/null; then
        log "creating system user $SERVICE_USER"
        if command -v adduser >/dev/null; then
            adduser --quiet --system --group --no-create-home --home /var/lib/knot-resolver "$SERVICE_USER"
        else
            getent group "$SERVICE_USER" >/dev/null || groupadd --system "$SERVICE_USER"
            useradd --system --gid "$SERVICE_USER" --no-create-home --home-dir /var/lib/knot-resolver \
                --shell /usr/sbin/nologin "$SERVICE_USER"
        fi
    fi
}

# ---------------------------------------------------------------------------------------
# Stamp and checks
# ---------------------------------------------------------------------------------------
stamp_get() { sed -n "s/^$1=//p" "$STAMP" 2>/dev/null | head -n1; }

# kresd_version_ok VERSION: kresd runs (every symbol bound) and prints VERSION.
kresd_version_ok() {
    local out
    out="$(LD_BIND_NOW=1 "$PREFIX/sbin/kresd" --version 2>&1)" || return 1
    [[ "$out" == "Knot Resolver, version $1" ]]
}

already_installed() {
    [[ -f "$STAMP" ]] || return 1
    [[ "$(stamp_get layout)" == "$LAYOUT_VERSION" && "$(stamp_get pins)" == "$PINS_ID" \
        && "$(stamp_get prefix)" == "$PREFIX" ]] || { log "stamp is from another script version or pins: redoing"; return 1; }
    local v
    v="$(stamp_get kresd)"
    [[ -n "$v" ]] || return 1
    kresd_version_ok "$v" || { log "stamp found but '$PREFIX/sbin/kresd --version' does not print $v: redoing"; return 1; }
    [[ -x "$PREFIX/bin/kr6-knot-resolver" && -x "$PREFIX/bin/kr6-kres-manager" && -x "$PREFIX/bin/kr6-kresctl" \
        && -x "$PREFIX/sbin/kres-cache-gc" ]] || { log "wrappers or kres-cache-gc missing: redoing"; return 1; }
    log "already installed: kresd $v in $PREFIX ($(stamp_get taken))"
}

# ---------------------------------------------------------------------------------------
# 2. sid's packages through a private apt
# ---------------------------------------------------------------------------------------
# The URI of the machine's bookworm (main) source: one-line .list files and deb822 .sources.
bookworm_mirror() {
    local f
    for f in /etc/apt/sources.list /etc/apt/sources.list.d/*.list; do
        [[ -f "$f" ]] || continue
        awk '$1 == "deb" {
                i = 2; if ($i ~ /^\[/) { while ($i !~ /\]$/) i++; i++ }
                uri = $i; suite = $(i + 1)
                if (suite == "bookworm" || suite == "stable") for (j = i + 2; j <= NF; j++) if ($j == "main") { print uri; exit }
            }' "$f"
    done
    for f in /etc/apt/sources.list.d/*.sources; do
        [[ -f "$f" ]] || continue
        awk 'function flush() {
                if (types ~ /(^| )deb( |$)/ && (" " suites " ") ~ / (bookworm|stable) / && (" " comps " ") ~ / main / && enabled != "no") {
                    split(uris, u, " "); print u[1]
                }
                types = uris = suites = comps = ""; enabled = "yes"
            }
            BEGIN { enabled = "yes" }
            /^[ \t]*#/ { next }
            /^[ \t]*$/ { flush(); next }
            { line = $0; key = tolower(line); sub(/:.*/, "", key); val = line; sub(/^[^:]*:[ \t]*/, "", val)
              if (key == "types") types = val; else if (key == "uris") uris = val
              else if (key == "suites") suites = val; else if (key == "components") comps = val
              else if (key == "enabled") enabled = tolower(val) }
            END { flush() }' "$f"
    done
}

SID_APT=()   # apt-get/apt-cache with the private configuration: "${SID_APT[@]}" apt-get ...
setup_private_apt() {
    local mirror="${KRES_KR6_MIRROR:-}"
    if [[ -z "$mirror" ]]; then
        mirror="$(bookworm_mirror | head -n1)"
        [[ -n "$mirror" ]] || die "found no 'bookworm main' source in /etc/apt/sources.list{,.d/*.list,.d/*.sources}; set KRES_KR6_MIRROR (e.g. http://deb.debian.org/debian)"
    fi
    MIRROR="${mirror%/}"
    local keyring=/usr/share/keyrings/debian-archive-keyring.gpg
    [[ -f "$keyring" ]] || die "$keyring missing (package debian-archive-keyring)"
    mkdir -p "$APT_DIR"/{etc/sources.list.d,etc/preferences.d,lists/partial,cache/archives/partial,state}
    chmod 755 "$APT_DIR"
    : >"$APT_DIR/state/status"
    printf 'deb [target=Packages signed-by=%s] %s sid main\n' "$keyring" "$MIRROR" >"$APT_DIR/etc/sources.list"
    # Read first (APT_CONFIG), then apt.conf.d (proxies etc. still apply), then apt-main.conf,
    # which clears the update hooks (appstream, packagekit) so that nothing of the system's
    # runs against these lists.
    cat >"$APT_DIR/etc/apt.conf" <<EOF
Dir::Etc::main "$APT_DIR/etc/apt-main.conf";
EOF
    {
        [[ -f /etc/apt/apt.conf ]] && printf '#include "/etc/apt/apt.conf";\n'
        cat <<EOF
#clear APT::Update::Pre-Invoke;
#clear APT::Update::Post-Invoke;
#clear APT::Update::Post-Invoke-Success;
Dir::State "$APT_DIR/state";
Dir::State::Lists "$APT_DIR/lists";
Dir::State::status "$APT_DIR/state/status";
Dir::Cache "$APT_DIR/cache";
Dir::Cache::pkgcache "";
Dir::Cache::srcpkgcache "";
Dir::Etc::SourceList "$APT_DIR/etc/sources.list";
Dir::Etc::SourceParts "$APT_DIR/etc/sources.list.d";
Dir::Etc::Preferences "$APT_DIR/etc/preferences";
Dir::Etc::PreferencesParts "$APT_DIR/etc/preferences.d";
APT::Architecture "amd64";
APT::Architectures { "amd64"; };
Acquire::Languages "none";
EOF
    } >"$APT_DIR/etc/apt-main.conf"
    SID_APT=(env APT_CONFIG="$APT_DIR/etc/apt.conf")
    log "private apt in $APT_DIR: $MIRROR sid main"
    "${SID_APT[@]}" apt-get -q update >"$APT_DIR/update.log" 2>&1 \
        || { cat "$APT_DIR/update.log" >&2; die "could not fetch sid's package list from $MIRROR (see above)"; }
}

# choose_version PKG PIN: the pinned version when sid has it, else sid's candidate.
choose_version() {
    local pkg="$1" pin="$2" have candidate
    have="$("${SID_APT[@]}" apt-cache madison "$pkg" 2>/dev/null | awk -F'|' '{gsub(/ /, "", $2); print $2}')"
    if grep -qxF -- "$pin" <<<"$have"; then
        printf '%s' "$pin"
        return
    fi
    candidate="$("${SID_APT[@]}" apt-cache policy "$pkg" 2>/dev/null | awk '/Candidate:/ {print $2}')"
    if [[ -z "$candidate" || "$candidate" == "(none)" ]]; then
        die "sid at $MIRROR has no package $pkg (pinned $pin): either that archive is not a current Debian mirror (set KRES_KR6_MIRROR) or the sonames moved: update SID_PINS in $0 (see the Depends of sid's knot-resolver6)"
    fi
    log "WARNING: sid no longer has $pkg $pin; taking sid's $candidate" >&2
    printf '%s' "$candidate"
}

TAKEN=()     # pkg=version actually downloaded
download_sid_packages() {
    local entry pkg pin ver
    for entry in "${SID_PINS[@]}"; do
        pkg="${entry%%=*}" pin="${entry#*=}"
        ver="$(choose_version "$pkg" "$pin")"
        TAKEN+=("$pkg=$ver")
    done
    log "taking from sid: ${TAKEN[*]}"

    # The library package names must still be the ones knot-resolver6 and libknot depend on.
    local deps want p
    deps="$("${SID_APT[@]}" apt-cache show "${TAKEN[0]}" "${TAKEN[1]}" 2>/dev/null | sed -n 's/^Depends: //p' | tr ',|' '\n\n' | awk '{print $1}')"
    for want in $(grep -E '^lib(knot|dnssec|zscanner|ngtcp2)[-0-9a-z]*[0-9]$' <<<"$deps" | sort -u); do
        p=0
        for entry in "${TAKEN[@]}"; do [[ "${entry%%=*}" == "$want" ]] && p=1; done
        [[ $p -eq 1 ]] || die "sid's ${TAKEN[0]} / ${TAKEN[1]} depend on $want, which SID_PINS does not name: update SID_PINS in $0"
    done

    DEB_DIR="$APT_DIR/debs"
    rm -rf "$DEB_DIR"
    mkdir -p "$DEB_DIR"
    # apt downloads as _apt (sandbox): let it write here.
    getent passwd _apt >/dev/null && chown _apt "$DEB_DIR"
    log "downloading ${#TAKEN[@]} packages"
    (cd "$DEB_DIR" && "${SID_APT[@]}" apt-get -q download "${TAKEN[@]}" >"$APT_DIR/download.log" 2>&1) \
        || { cat "$APT_DIR/download.log" >&2; die "apt-get download from sid failed (see above)"; }
    local n
    n="$(find "$DEB_DIR" -maxdepth 1 -name '*.deb' | wc -l)"
    [[ "$n" -eq ${#TAKEN[@]} ]] || die "expected ${#TAKEN[@]} .deb files in $DEB_DIR, found $n"
}

# ---------------------------------------------------------------------------------------
# 3-5. Unpack, lay out, rewrite, patch
# ---------------------------------------------------------------------------------------
is_elf() { [[ "$(head -c4 "$1" 2>/dev/null | od -An -c | tr -d ' ')" == '177ELF' ]]; }

deb_of() { # deb_of PKG: its .deb in DEB_DIR
    local f
    for f in "$DEB_DIR"/*.deb; do
        [[ "$(dpkg-deb -f "$f" Package)" == "$1" ]] && { printf '%s' "$f"; return; }
    done
    die "no .deb for $1 in $DEB_DIR"
}

build_stage() {
    STAGE="$PREFIX.new"
    if [[ -e "$STAGE" ]]; then
        [[ -f "$STAGE/$STAGING_MARK" ]] || die "$STAGE exists and is not a staging directory of this script; remove it"
        rm -rf "$STAGE"
    fi
    mkdir -p "$STAGE"/{sbin,bin,share,etc,libexec/kr6-path}
    touch "$STAGE/$STAGING_MARK"
    local raw="$STAGE/.raw" entry pkg r e
    for entry in "${TAKEN[@]}"; do
        pkg="${entry%%=*}"
        r="$raw/$pkg"
        mkdir -p "$r"
        dpkg-deb -x "$(deb_of "$pkg")" "$r"
        [[ -d "$r/usr/sbin" ]] && cp -a "$r/usr/sbin/." "$STAGE/sbin/"
        if [[ -d "$r/usr/lib" ]]; then
            for e in "$r/usr/lib"/*; do
                case "${e##*/}" in systemd | sysusers.d | tmpfiles.d) continue ;; esac
                cp -a "$e" "$STAGE/"
            done
        fi
        [[ -d "$r/usr/share" ]] && cp -a "$r/usr/share/." "$STAGE/share/"
        [[ -d "$r/etc/knot-resolver" ]] && cp -a "$r/etc/knot-resolver" "$STAGE/etc/"
    done
    [[ -x "$STAGE/sbin/kresd" && -x "$STAGE/sbin/kres-cache-gc" && -f "$STAGE/x86_64-linux-gnu/ld-linux-x86-64.so.2" \
        && -d "$STAGE/knot-resolver" && -d "$STAGE/python3/dist-packages/knot_resolver" ]] \
        || die "the unpacked packages do not have the expected layout (usr/sbin/kresd, usr/lib/knot-resolver, usr/lib/python3/dist-packages/knot_resolver, libc6's ld-linux-x86-64.so.2)"

    # glibc's own files are not patched (ld.so must stay as it is).
    local glibc_files
    glibc_files="$(cd "$raw/libc6/usr/lib" && find . -type f | sed 's|^\./||')"

    # 4. compiled-in /usr/lib paths -> the prefix (same length).
    log "rewriting compiled-in /usr/lib paths to $PAD"
    local kr_files=()
    while IFS= read -r -d '' e; do kr_files+=("$e"); done < <(
        find "$STAGE/sbin" "$STAGE/knot-resolver" "$STAGE"/libkres.so* -type f -print0)
    KR6_PAD="$PAD" perl -0777 -pi -e \
        's{/usr/lib(?=/knot-resolver|/x86_64-linux-gnu/lib(?:knot|zscanner|dnssec|ngtcp2)[._])}{$ENV{KR6_PAD}}g' \
        "${kr_files[@]}"
    KR6_PAD="$PAD" perl -0777 -pi -e 's{/usr/lib(?=/x86_64-linux-gnu/gconv)}{$ENV{KR6_PAD}}g' \
        "$STAGE/x86_64-linux-gnu/libc.so.6" "$STAGE/x86_64-linux-gnu/gconv/gconv-modules.cache"
    if grep -rlaE '/usr/lib/(knot-resolver|x86_64-linux-gnu/lib(knot|zscanner|dnssec|ngtcp2))' "${kr_files[@]}"; then
        die "files above still name /usr/lib paths after the rewrite"
    fi
    grep -qaF "$PAD/knot-resolver/sandbox.lua" "$STAGE/sbin/kresd" \
        || die "kresd does not carry '$PAD/knot-resolver/sandbox.lua' after the rewrite: its compiled-in paths changed"

    # 3. private glibc: interpreter + RUNPATH.
    log "patching ELF files (interpreter $INTERP, RUNPATH $LIBDIR:$PREFIX)"
    local rel count=0
    while IFS= read -r -d '' e; do
        rel="${e#"$STAGE"/}"
        grep -qxF -- "$rel" <<<"$glibc_files" && continue
        is_elf "$e" || continue
        patchelf --set-rpath "$LIBDIR:$PREFIX" "$e"
        count=$((count + 1))
    done < <(find "$STAGE/sbin" "$STAGE/knot-resolver" "$STAGE"/libkres.so* "$STAGE/x86_64-linux-gnu" -type f -print0)
    patchelf --set-interpreter "$INTERP" "$STAGE/sbin/kresd"
    patchelf --set-interpreter "$INTERP" "$STAGE/sbin/kres-cache-gc"
    log "patched $count ELF files"

    # 5. the manager: executables' paths, wrappers, supervisord on PATH.
    local constants="$STAGE/python3/dist-packages/knot_resolver/constants.py"
    KR6_PREFIX="$PREFIX" perl -pi -e '
        s{^SBIN_DIR = Path\("/usr/sbin"\)$}{SBIN_DIR = Path("$ENV{KR6_PREFIX}/sbin")  # install-kresd6.sh};
        s{^MANAGER_EXECUTABLE = PYBIN_DIR / "kres-manager"$}{MANAGER_EXECUTABLE = Path("$ENV{KR6_PREFIX}/bin/kr6-kres-manager")  # install-kresd6.sh};
    ' "$constants"
    grep -qF "SBIN_DIR = Path(\"$PREFIX/sbin\")" "$constants" \
        && grep -qF "MANAGER_EXECUTABLE = Path(\"$PREFIX/bin/kr6-kres-manager\")" "$constants" \
        || die "could not patch SBIN_DIR / MANAGER_EXECUTABLE in knot_resolver/constants.py (its layout changed)"
    local sv
    for sv in supervisord supervisorctl; do
        [[ -x "/usr/bin/$sv" ]] || die "/usr/bin/$sv missing (package supervisor)"
        ln -s "/usr/bin/$sv" "$STAGE/libexec/kr6-path/$sv"
    done
    write_wrapper "$STAGE/bin/kr6-knot-resolver" knot_resolver.main kr6-knot-resolver
    write_wrapper "$STAGE/bin/kr6-kres-manager" knot_resolver.manager.main kr6-kres-manager
    write_wrapper "$STAGE/bin/kr6-kresctl" knot_resolver.client.main kr6-kresctl

    rm -rf "$raw"
    chmod -R u+rwX,go+rX,go-w "$STAGE"
}

# write_wrapper FILE MODULE NAME: runs MODULE.main() with bookworm's python3.
write_wrapper() {
    cat >"$1" <<EOF
#!/bin/sh
# Knot Resolver 6's $2 (from Debian sid's knot-resolver6), installed by
# scripts/install-kresd6.sh. bookworm's python3; supervisord/supervisorctl are bookworm's.
PYTHONPATH="$PREFIX/python3/dist-packages\${PYTHONPATH:+:\$PYTHONPATH}"
PATH="$PREFIX/libexec/kr6-path:$PREFIX/bin:\${PATH:-/usr/bin:/bin}"
export PYTHONPATH PATH
exec $PYTHON -s -c 'import sys; sys.argv[0] = "$3"; from $2 import main; sys.exit(main())' "\$@"
EOF
    chmod 755 "$1"
}

# ---------------------------------------------------------------------------------------
# Swap in and verify
# ---------------------------------------------------------------------------------------
verify() {
    local want="$1" out e bad=()
    kresd_version_ok "$want" \
        || die "'$PREFIX/sbin/kresd --version' (LD_BIND_NOW=1) does not print 'Knot Resolver, version $want': $(LD_BIND_NOW=1 "$PREFIX/sbin/kresd" --version 2>&1 | head -n5)"
    # Every patched ELF file resolves all its libraries (catches a bookworm library missing).
    while IFS= read -r -d '' e; do
        is_elf "$e" || continue
        [[ "$e" == "$LIBDIR"/* && "$e" != "$LIBDIR"/lib{knot,dnssec,zscanner,ngtcp2}* ]] && continue
        out="$("$INTERP" --list "$e" 2>&1)" || { bad+=("$e: $out"); continue; }
        grep -q 'not found' <<<"$out" && bad+=("$e: $(grep 'not found' <<<"$out" | tr -s ' \t\n' ' ')")
    done < <(find "$PREFIX/sbin" "$PREFIX/knot-resolver" "$PREFIX"/libkres.so* "$LIBDIR" -type f -print0)
    [[ ${#bad[@]} -eq 0 ]] || die "unresolved libraries: ${bad[*]}"
    # sid's glibc must stay private to the patched files.
    if ldconfig -p 2>/dev/null | grep -qF "=> $PREFIX/"; then
        die "/etc/ld.so.cache names libraries in $PREFIX: every program would load sid's glibc; remove $PREFIX from /etc/ld.so.conf{,.d/*} and run ldconfig"
    fi
    for e in "$PREFIX/sbin/kresd" "$PREFIX/sbin/kres-cache-gc"; do
        out="$(foreign_glibc "$e")"
        [[ -z "$out" ]] || die "${e##*/} loads bookworm's glibc libraries: $out"
    done
    out="$("$PREFIX/sbin/kres-cache-gc" -h 2>&1 || true)"
    grep -qi 'usage' <<<"$out" || die "kres-cache-gc does not run: $out"
    "$PREFIX/bin/kr6-kresctl" --help >/dev/null 2>&1 || die "kr6-kresctl --help fails: $("$PREFIX/bin/kr6-kresctl" --help 2>&1 | tail -n5)"
    for e in kr6-knot-resolver kr6-kres-manager; do
        "$PREFIX/bin/$e" --help >/dev/null 2>&1 || die "$e --help fails: $("$PREFIX/bin/$e" --help 2>&1 | tail -n5)"
    done
    local tmp
    tmp="$(mktemp -d)"
    printf 'workers: 1\nnetwork:\n  listen:\n    - interface: 127.0.0.1@53535\n' >"$tmp/config.yaml"
    out="$("$PREFIX/bin/kr6-kresctl" validate "$tmp/config.yaml" 2>&1)" || { rm -rf "$tmp"; die "kr6-kresctl validate fails: $out"; }
    rm -rf "$tmp"
    if getent passwd "$SERVICE_USER" >/dev/null && command -v runuser >/dev/null; then
        out="$(runuser -u "$SERVICE_USER" -- env LD_BIND_NOW=1 "$PREFIX/sbin/kresd" --version 2>&1)" \
            && [[ "$out" == "Knot Resolver, version $want" ]] \
            || die "kresd does not run as $SERVICE_USER: $out"
    fi
    log "verified: $(LD_BIND_NOW=1 "$PREFIX/sbin/kresd" --version), kres-cache-gc, kr6-kresctl (--help, validate), kr6-knot-resolver, kr6-kres-manager${SERVICE_USER:+, kresd as $SERVICE_USER}"
}

# glibc's sonames that the prefix ships (libc.so.6, libm.so.6, libpthread.so.0, libdl.so.2, ...).
glibc_sonames() {
    local f
    for f in "$LIBDIR"/lib*.so.[0-9]*; do
        case "${f##*/}" in libknot* | libdnssec* | libzscanner* | libngtcp2*) continue ;; esac
        printf '%s\n' "${f##*/}"
    done
}

# foreign_glibc EXE: the glibc sonames that EXE's library closure takes from outside the prefix.
foreign_glibc() {
    LD_TRACE_LOADED_OBJECTS=1 "$1" 2>/dev/null | awk -v p="$PREFIX/" '$2 == "=>" && index($3, p) != 1 {print $1}' \
        | grep -xF -f <(glibc_sonames) || true
}

# A bookworm library in the closure may need a glibc stub library that no patched file names
# (liblmdb.so.0 needs libpthread.so.0): the loader would then take bookworm's. Name it in the
# executables so that the prefix's is loaded first.
glibc_closure() {
    local exe so
    for exe in "$PREFIX/sbin/kresd" "$PREFIX/sbin/kres-cache-gc"; do
        for so in $(foreign_glibc "$exe"); do
            log "${exe##*/}: bookworm's $so would be loaded next to sid's libc; adding it to NEEDED"
            patchelf --add-needed "$so" "$exe"
        done
    done
}

install_all() {
    if [[ -e "$PREFIX" && ! -f "$STAMP" ]] && [[ -n "$(ls -A "$PREFIX" 2>/dev/null)" ]]; then
        die "$PREFIX exists, is not empty and has no $(basename "$STAMP"): not made by this script; remove it or set KRES_KR6_PREFIX"
    fi
    setup_private_apt
    download_sid_packages
    build_stage

    local kr_deb_ver kresd_ver
    kr_deb_ver="${TAKEN[0]#*=}"
    kresd_ver="${kr_deb_ver#*:}"
    kresd_ver="${kresd_ver%-*}"

    local old="$PREFIX.old" failed="$PREFIX.failed" d
    for d in "$old" "$failed"; do
        if [[ -e "$d" ]]; then
            [[ -f "$d/$(basename "$STAMP")" || -f "$d/$STAGING_MARK" ]] \
                || die "$d exists and was not made by this script; remove it"
            rm -rf "$d"
        fi
    done
    [[ -e "$PREFIX" ]] && mv "$PREFIX" "$old"
    mv "$STAGE" "$PREFIX"
    rm -f "$PREFIX/$STAGING_MARK"
    glibc_closure
    "$PYTHON" -m compileall -q "$PREFIX/python3/dist-packages" >/dev/null || log "WARNING: compileall failed (harmless)"
    chmod -R go+rX "$PREFIX/python3"
    if ! (verify "$kresd_ver"); then
        touch "$PREFIX/$STAGING_MARK"
        mv "$PREFIX" "$failed"
        local restored=""
        if [[ -e "$old" ]]; then mv "$old" "$PREFIX"; restored="; the previous installation is back in $PREFIX"; fi
        die "verification failed (see above); the new tree is in $failed$restored"
    fi
    rm -rf "$old"
    {
        echo "layout=$LAYOUT_VERSION"
        echo "prefix=$PREFIX"
        echo "pins=$PINS_ID"
        echo "taken=${TAKEN[*]}"
        echo "kresd=$kresd_ver"
        echo "mirror=$MIRROR"
        echo "installed=$(date -u +%Y-%m-%dT%H:%M:%SZ)"
    } >"$STAMP"
    chmod 644 "$STAMP"
    log "installed kresd $kresd_ver into $PREFIX (${TAKEN[*]})"
}

bookworm_packages
if [[ "${KRES_KR6_FORCE:-0}" != 1 ]] && already_installed; then
    :
else
    install_all
fi
log "kresd: $PREFIX/sbin/kresd, kres-cache-gc: $PREFIX/sbin/kres-cache-gc, Knot Resolver 6's manager: $PREFIX/bin/kr6-knot-resolver (start it with -c CONFIG), $PREFIX/bin/kr6-kresctl"
log "done in $((SECONDS - START_SECONDS)) s"
