#!/usr/bin/env bash
# Builds the small test guest of incus-qemu's integration tests and benchmarks from Debian packages:
# Debian's cloud kernel (vmlinuz) and an initramfs (initrd.img) holding busybox, qemu-ga, dropbear and
# OpenSSH's sftp-server. The guest runs from RAM. See README.md next to this script for the contract.
#
# Output: ${INCUS4J_GUEST_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/incus4j/guest}/{vmlinuz,initrd.img,manifest}
# The last line on stdout is that directory; everything else goes to stderr. A build is keyed by this
# script's content and the package versions apt resolves, so a second run with the same key only prints
# the directory. Options: --force (rebuild even if cached), --help.
set -euo pipefail
shopt -s nullglob

readonly MARKER=INCUS4J-GUEST-READY
readonly KERNEL_META=linux-image-cloud-amd64
readonly USERLAND="busybox-static qemu-guest-agent dropbear-bin openssh-sftp-server"
# Modules loaded at boot, dependencies first (resolved from each module's modinfo); built-ins are skipped.
readonly MODULES="virtio_pci virtio_console virtio_blk virtio_balloon virtio_net virtio_rng button evdev virtiofs"
# Debian's library directory on amd64, in the packages and in the guest.
readonly MULTIARCH=x86_64-linux-gnu

log() { printf 'build-guest: %s\n' "$*" >&2; }
die() { log "error: $*"; exit 1; }

usage() {
    sed -n '2,9s/^# \{0,1\}//p' "$0"
}

force=0
for arg in "$@"; do
    case "$arg" in
        --force) force=1 ;;
        -h|--help) usage; exit 0 ;;
        *) die "unknown argument '$arg' (try --help)" ;;
    esac
done

self=$(readlink -f "${BASH_SOURCE[0]}")
out=${INCUS4J_GUEST_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/incus4j/guest}
case "$out" in /*) ;; *) out=$PWD/$out ;; esac

# Host tools the build needs, with the Debian package providing each; all are in a standard install.
ensure_tools() {
    local missing=() pair
    for pair in apt-get:apt apt-cache:apt dpkg-deb:dpkg flock:util-linux gzip:gzip sha256sum:coreutils \
                find:findutils sort:coreutils awk:mawk; do
        command -v "${pair%%:*}" >/dev/null || missing+=("${pair#*:}")
    done
    [ ${#missing[@]} -eq 0 ] && return 0
    [ "$(id -u)" -eq 0 ] || die "missing host packages: ${missing[*]} (install them or run as root)"
    log "installing host tools: ${missing[*]}"
    apt-get install -y -q --no-install-recommends "${missing[@]}" >&2
}

# Identifies the state of apt's package lists: when unchanged, the last resolution still holds.
apt_fingerprint() {
    {
        stat -c '%n %s %Y' /var/lib/apt/lists/*_Packages* /etc/apt/sources.list /etc/apt/sources.list.d/* \
            /etc/apt/preferences /etc/apt/preferences.d/* 2>/dev/null || true
    } | sha256sum | cut -c1-64
}

# Prints "name version depends-comma-separated" for the candidate of each package given.
apt_records() {
    apt-cache show --no-all-versions "$@" 2>/dev/null | awk '
        /^Package: /   { name = $2 }
        /^Version: /   { version = $2 }
        /^(Pre-)?Depends: / {
            sub(/^[^:]*: /, "")
            n = split($0, alts, /, */)
            for (i = 1; i <= n; i++) {           # first alternative, no version or arch qualifier
                dep = alts[i]; sub(/ *\|.*/, "", dep); sub(/ .*/, "", dep); sub(/:.*/, "", dep)
                deps = deps (deps == "" ? "" : ",") dep
            }
        }
        /^$/ { if (name != "") print name, version, (deps == "" ? "-" : deps); name = version = deps = "" }
        END  { if (name != "") print name, version, (deps == "" ? "-" : deps) }'
}

# Resolves the package set: the versioned kernel behind the cloud metapackage, the userland packages and
# the closure of their library dependencies (lib* and zlib1g only: the guest needs their shared objects,
# nothing of the packaging around them). Prints "name version" lines, sorted.
resolve_packages() {
    local meta kernel queue seen="" name version deps dep
    meta=$(apt_records "$KERNEL_META") || true
    kernel=$(awk -v m="$KERNEL_META" '$1 == m { n = split($3, d, ","); for (i = 1; i <= n; i++)
                 if (d[i] ~ /^linux-image-.*-cloud-amd64$/) { print d[i]; exit } }' <<<"$meta")
    [ -n "$kernel" ] || return 1
    # The kernel depends on no library packages, so it can ride along with the first level.
    local result=""
    queue="$kernel $USERLAND"
    while [ -n "$queue" ]; do
        local records next=""
        records=$(apt_records $queue) || true
        for name in $queue; do
            grep -q "^$name " <<<"$records" || { log "apt has no candidate for $name"; return 1; }
        done
        while read -r name version deps; do
            result+="$name $version"$'\n'
            seen+=" $name "
            for dep in ${deps//,/ }; do
                case "$dep" in lib*|zlib1g) ;; *) continue ;; esac
                case "$seen $next " in *" $dep "*) ;; *) next+=" $dep" ;; esac
            done
        done <<<"$records"
        queue=${next# }
    done
    sort -u <<<"${result%$'\n'}"
}

# Writes $out/resolved ("fp <script hash> <apt fingerprint>" then "name version" lines), running
# apt-get update once when apt knows none of the packages (fresh container, stale lists).
resolve_to_file() {
    local fp=$1 packages
    if ! packages=$(resolve_packages) || [ -z "$packages" ]; then
        [ "$(id -u)" -eq 0 ] || return 1
        log "apt cannot resolve the packages; running apt-get update"
        apt-get update -q >&2 || return 1
        fp="$script_hash $(apt_fingerprint)"
        packages=$(resolve_packages) || return 1
    fi
    printf 'fp %s\n%s\n' "$fp" "$packages" >"$out/resolved.tmp"
    mv -f "$out/resolved.tmp" "$out/resolved"
}

# True when $out holds a complete build for key $1 whose files match their recorded sha256s.
cached_build_ok() {
    local key=$1 f
    [ -f "$out/manifest" ] || return 1
    [ -z "$key" ] || grep -qx "key=$key" "$out/manifest" || return 1
    for f in vmlinuz initrd.img; do
        [ -f "$out/$f" ] || return 1
        grep -qx "sha256.$f=$(sha256sum "$out/$f" | cut -c1-64)" "$out/manifest" || return 1
    done
}

deb_path() { # name version -> path of the cached .deb (apt-get download spells ':' as %3a)
    local matches=("$out/debs/${1}_${2//:/%3a}_"*.deb)
    [ ${#matches[@]} -gt 0 ] && printf '%s\n' "${matches[0]}"
}

download_debs() {
    local want=() name version
    mkdir -p "$out/debs"
    while read -r name version; do
        deb_path "$name" "$version" >/dev/null || want+=("$name=$version")
    done <<<"$packages"
    [ ${#want[@]} -eq 0 ] && return 0
    log "downloading ${#want[@]} packages"
    # As root, apt drops to _apt for downloads; letting it write the directory avoids a warning.
    if [ "$(id -u)" -eq 0 ] && id _apt >/dev/null 2>&1; then chown _apt "$out/debs"; fi
    (cd "$out/debs" && apt-get download -q "${want[@]}") >&2
}

# ---------------------------------------------------------------------------------------------------
# Guest file system

# Copies a dynamically linked ELF file and the shared objects it needs, resolved with the guest's own
# loader against the extracted packages; a library no package provides comes from the host (logged).
install_elf() {
    local src=$1 dest=$2 loader="$x/lib/$MULTIARCH/ld-linux-x86-64.so.2" line lib rel
    install -D -m 0755 "$src" "$root/$dest"
    while read -r line; do
        case "$line" in
            *"=> not found"*) die "${src#"$x"/}: shared library ${line%% *} not found" ;;
            *" => "/*) lib=${line#* => }; lib=${lib%% (*} ;;
            *) continue ;;
        esac
        case "$lib" in
            "$x"/*) rel=${lib#"$x"/} ;;
            *) rel=${lib#/}; log "warning: ${lib##*/} taken from the host (no package provides it)" ;;
        esac
        [ -e "$root/$rel" ] || install -D -m 0755 "$(readlink -f "$lib")" "$root/$rel"
    done < <("$loader" --library-path "$x/lib/$MULTIARCH:$x/usr/lib/$MULTIARCH" --list "$src")
}

install_modules() {
    local kver=$1 f name base
    local -A path=() builtin=() loaded=()
    for f in $(find "$x/lib/modules/$kver/kernel" -name '*.ko' -o -name '*.ko.xz'); do
        base=${f##*/}; base=${base%.xz}; base=${base%.ko}; path[${base//-/_}]=$f
    done
    while read -r f; do
        base=${f##*/}; base=${base%.ko}; builtin[${base//-/_}]=1
    done <"$x/lib/modules/$kver/modules.builtin"
    mkdir -p "$root/lib/modules"
    : >"$root/etc/modules"
    add_module() {
        local name=$1 deps dep
        [ -n "${builtin[$name]:-}" ] || [ -n "${loaded[$name]:-}" ] && return 0
        [ -n "${path[$name]:-}" ] || die "kernel $kver has no module $name"
        loaded[$name]=1
        case "${path[$name]}" in
            *.xz) "$x/bin/busybox" unxz -c "${path[$name]}" >"$root/lib/modules/$name.ko" ;;
            *) cp "${path[$name]}" "$root/lib/modules/$name.ko" ;;
        esac
        deps=$(grep -a -o 'depends=[a-z0-9_,-]*' "$root/lib/modules/$name.ko" | head -n1 || true)
        deps=${deps#depends=}
        for dep in ${deps//,/ }; do add_module "${dep//-/_}"; done
        echo "$name" >>"$root/etc/modules"
    }
    for name in $MODULES; do add_module "$name"; done
}

write_file() { # mode path; content on stdin
    mkdir -p "$(dirname "$root/$2")"
    cat >"$root/$2"
    chmod "$1" "$root/$2"
}

populate_root() {
    local kver=$1 applet
    mkdir -p "$root"/{bin,sbin,usr/bin,usr/sbin,etc,dev,proc,sys,tmp,run,var/log,root/.ssh,etc/dropbear}
    chmod 0700 "$root/root/.ssh"
    # qemu-ga gives every file guest-file-open creates mode 0666, which dropbear refuses for
    # authorized_keys; opening this existing empty file truncates it and keeps 0600.
    install -m 0600 /dev/null "$root/root/.ssh/authorized_keys"
    chmod 1777 "$root/tmp"
    ln -s ../run "$root/var/run"

    install -m 0755 "$x/bin/busybox" "$root/bin/busybox"
    for applet in $("$x/bin/busybox" --list-full); do
        [ -e "$root/$applet" ] || ln -s /bin/busybox "$root/$applet"
    done

    install_elf "$x/usr/sbin/qemu-ga" usr/sbin/qemu-ga
    install_elf "$x/usr/sbin/dropbear" usr/sbin/dropbear
    install_elf "$x/usr/bin/dropbearkey" usr/bin/dropbearkey
    install_elf "$x/usr/lib/openssh/sftp-server" usr/lib/openssh/sftp-server
    # Debian's dropbear runs /usr/lib/sftp-server; upstream's default is /usr/libexec/sftp-server.
    ln -s openssh/sftp-server "$root/usr/lib/sftp-server"
    mkdir -p "$root/usr/libexec" && ln -s ../lib/openssh/sftp-server "$root/usr/libexec/sftp-server"
    install -D -m 0755 "$x/lib/$MULTIARCH/ld-linux-x86-64.so.2" "$root/lib/$MULTIARCH/ld-linux-x86-64.so.2"
    mkdir -p "$root/lib64" && ln -sf "/lib/$MULTIARCH/ld-linux-x86-64.so.2" "$root/lib64/ld-linux-x86-64.so.2"

    install_modules "$kver"

    write_file 0755 init <<'EOF'
#!/bin/sh
# PID 1 until busybox init takes over: the initramfs has no device nodes, so stdio comes from devtmpfs.
umask 022
mount -t devtmpfs -o mode=0755 devtmpfs /dev
# dropbear blocks until the kernel's CRNG is seeded. Without an RNG device that takes 1 s of waiting plus
# jitter entropy, which the kernel starts only once someone blocks: start blocking now, in parallel.
head -c 1 /dev/random >/dev/null 2>&1 &
exec 0<>/dev/console 1>&0 2>&0
exec /sbin/init
EOF

    write_file 0644 etc/inittab <<'EOF'
::sysinit:/etc/init.d/rcS
::once:/etc/init.d/ready
::respawn:/etc/init.d/svc agent
::respawn:/etc/init.d/svc sshd
::respawn:/etc/init.d/svc acpid
::respawn:/etc/init.d/svc dhcp
::respawn:/bin/cttyhack /bin/sh -l
::ctrlaltdel:/sbin/guest-halt reboot
::shutdown:/sbin/guest-halt stop
EOF

    write_file 0755 etc/init.d/rcS <<'EOF'
#!/bin/sh
mount -t proc proc /proc
mount -t sysfs sysfs /sys
mount -t debugfs debugfs /sys/kernel/debug
mkdir -p /dev/pts /dev/shm
mount -t devpts -o gid=5,mode=620,ptmxmode=666 devpts /dev/pts
mount -t tmpfs -o mode=1777 tmpfs /dev/shm

while read -r m; do insmod "/lib/modules/$m.ko" 2>/dev/null; done </etc/modules

name=incus4j-guest
set -f
read -r cmdline </proc/cmdline
for arg in $cmdline; do
    case "$arg" in incus4j.hostname=?*) name=${arg#incus4j.hostname=} ;; esac
done
set +f
hostname "$name"
echo "$name" >/etc/hostname
printf '127.0.0.1\tlocalhost\n127.0.1.1\t%s\n::1\tlocalhost ip6-localhost\n' "$name" >/etc/hosts
ip link set lo up

# No udev: link /dev/virtio-ports/<name> by hand. QEMU sends the names shortly after the driver binds, so
# wait (at most ~3 s) until every port has one. Loops use shell builtins: forks are slow under TCG.
if grep -qsx 0x0003 /sys/bus/virtio/devices/*/device; then
    mkdir -p /dev/virtio-ports
    i=0
    while [ $i -lt 60 ]; do
        named=1; ports=0
        for p in /sys/class/virtio-ports/vport*; do
            [ -e "$p/name" ] || continue
            ports=$((ports + 1)); n=
            read -r n <"$p/name"
            [ -n "$n" ] || named=0
        done
        [ $ports -gt 0 ] && [ $named = 1 ] && break
        sleep 0.05; i=$((i + 1))
    done
    for p in /sys/class/virtio-ports/vport*; do
        n=; read -r n <"$p/name" 2>/dev/null
        [ -n "$n" ] && ln -sf "../${p##*/}" "/dev/virtio-ports/$n"
    done
fi
EOF

    write_file 0755 etc/init.d/svc <<'EOF'
#!/bin/sh
# One service in the foreground for init to respawn; idles when the hardware it serves is absent.
# Output goes to /var/log/<service>.log to keep the serial console for the shell and the ready marker.
exec >>"/var/log/$1.log" 2>&1
umask 022
idle() { exec sleep 2147483647; }
case "$1" in
    agent)
        port=/dev/virtio-ports/org.qemu.guest_agent.0
        [ -e "$port" ] || idle
        mkdir -p /run/qemu-ga
        /usr/sbin/qemu-ga -m virtio-serial -p "$port" -t /run/qemu-ga ;;
    sshd)
        # Host keys made at first start, unique per boot; no RSA (seconds to generate under TCG).
        for t in ed25519 ecdsa; do
            k=/etc/dropbear/dropbear_${t}_host_key
            [ -s "$k" ] || dropbearkey -t "$t" -f "$k" >/dev/null
        done
        /usr/sbin/dropbear -F -E -s -p 22 -P /run/dropbear.pid \
            -r /etc/dropbear/dropbear_ed25519_host_key -r /etc/dropbear/dropbear_ecdsa_host_key ;;
    acpid)
        /sbin/acpid -d ;;
    dhcp)
        # Every NIC asks for a lease (the driver's user-mode NIC need not be eth0); eth0's client stays in the
        # foreground for init, the others go to the background once (their pidfile marks them started).
        for n in /sys/class/net/eth*; do
            i=${n##*/}
            [ "$i" = eth0 ] || [ -e "/run/udhcpc.$i.pid" ] \
                || /sbin/udhcpc -b -i "$i" -p "/run/udhcpc.$i.pid" -s /etc/udhcpc.script -T 1 -A 1 -S
        done
        [ -e /sys/class/net/eth0 ] || idle
        /sbin/udhcpc -f -i eth0 -s /etc/udhcpc.script -T 1 -A 1 -S ;;
esac
# Respawned by init: do not spin when the program exits at once.
sleep 1
EOF

    write_file 0755 etc/init.d/ready <<'EOF'
#!/bin/sh
# Prints the ready marker on the console once qemu-ga holds its port open, dropbear listens on 22 and DHCP
# configured eth0 (each only when its device exists). Polls with builtins only: forks are slow under TCG
# and would slow down the very services being waited for.
agent=
link=/dev/virtio-ports/org.qemu.guest_agent.0
[ -L $link ] && agent=/sys/kernel/debug/virtio-ports/$(basename "$(readlink $link)")
agent_up() {
    [ -z "$agent" ] && return 0
    while read -r key value; do
        [ "$key" = guest_connected: ] && { [ "$value" = 1 ]; return; }
    done <"$agent"
    return 1
}
sshd_up() {
    for f in /proc/net/tcp /proc/net/tcp6; do
        while read -r _ local _ state _; do
            [ "${local##*:}" = 0016 ] && [ "$state" = 0A ] && return 0
        done <"$f"
    done
    return 1
}
net_up() { [ ! -e /sys/class/net/eth0 ] || [ -e /run/eth0.configured ]; }
i=0
until agent_up && sshd_up && net_up; do
    i=$((i + 1))
    if [ $i -eq 1200 ]; then echo "incus4j-guest: not ready after 60 s (see /var/log)" >/dev/console; exit 1; fi
    sleep 0.05
done
printf '\n%s\n' @MARKER@ >/dev/console
read -r up _ </proc/uptime
echo "ready at $up s uptime" >/var/log/ready.log
EOF
    sed -i "s/@MARKER@/$MARKER/" "$root/etc/init.d/ready"


    write_file 0755 sbin/guest-halt <<'EOF'
#!/bin/sh
# guest-halt poweroff|reboot|halt stops the guest at once and cleanly: processes get SIGTERM, file systems
# are synced and unmounted (or remounted read-only), then the kernel powers off or resets; busybox init's
# own path (plain "poweroff") takes 2 s more. "guest-halt stop" only does the first two steps.
kill -TERM -1 2>/dev/null
sync
[ "$1" = stop ] && exit 0
umount -a -r 2>/dev/null
case "$1" in
    reboot) reboot -f ;;
    halt) halt -f ;;
    *) poweroff -f ;;
esac
EOF

    # qemu-ga's guest-shutdown runs "/sbin/shutdown -P|-H|-r +0 <message>" and waits for it.
    write_file 0755 sbin/shutdown <<'EOF'
#!/bin/sh
mode=poweroff
for arg in "$@"; do
    case "$arg" in -r) mode=reboot ;; -H) mode=halt ;; -P|-h) mode=poweroff ;; esac
done
setsid /sbin/guest-halt "$mode" </dev/null >/dev/null 2>&1 &
exit 0
EOF

    # busybox acpid maps the power button to PWRF/00000080 and runs that file.
    write_file 0755 etc/acpi/PWRF/00000080 <<'EOF'
#!/bin/sh
exec /sbin/guest-halt poweroff
EOF

    write_file 0755 etc/udhcpc.script <<'EOF'
#!/bin/sh
case "$1" in
    deconfig) rm -f "/run/$interface.configured"; ip -4 addr flush dev "$interface"; ip link set "$interface" up ;;
    bound|renew)
        ip -4 addr flush dev "$interface"
        ip addr add "$ip/${mask:-24}" ${broadcast:+broadcast "$broadcast"} dev "$interface"
        for r in $router; do ip route add default via "$r" dev "$interface" 2>/dev/null; break; done
        : >/etc/resolv.conf
        for d in $dns; do echo "nameserver $d" >>/etc/resolv.conf; done
        : >"/run/$interface.configured" ;;
esac
exit 0
EOF

    write_file 0644 etc/passwd <<'EOF'
root:x:0:0:root:/root:/bin/sh
nobody:x:65534:65534:nobody:/nonexistent:/bin/false
EOF
    write_file 0600 etc/shadow <<'EOF'
root:*:19000:0:99999:7:::
nobody:*:19000:0:99999:7:::
EOF
    write_file 0644 etc/group <<'EOF'
root:x:0:
tty:x:5:
nogroup:x:65534:
EOF
    write_file 0644 etc/shells <<'EOF'
/bin/sh
/bin/ash
EOF
    write_file 0644 etc/nsswitch.conf <<'EOF'
passwd: files
group: files
shadow: files
hosts: files dns
EOF
    write_file 0644 etc/profile <<'EOF'
umask 022
export PATH=/usr/sbin:/usr/bin:/sbin:/bin HOME=/root
PS1='\h:\w\$ '
EOF
    write_file 0644 etc/os-release <<EOF
NAME="incus4j test guest"
PRETTY_NAME="incus4j test guest (Debian 12 packages, kernel $kver)"
ID=incus4j-guest
ID_LIKE=debian
VERSION_ID="1"
VERSION="1"
BUILD_ID=${key:0:12}
EOF
}

# ---------------------------------------------------------------------------------------------------

ensure_tools
[ "$(dpkg --print-architecture)" = amd64 ] || die "the guest is x86_64: run on an amd64 host"
mkdir -p "$out"
exec 9>"$out/.lock"
flock 9

script_hash=$(sha256sum "$self" | cut -c1-64)
fp="$script_hash $(apt_fingerprint)"
if [ $force -eq 1 ] || [ ! -f "$out/resolved" ] || [ "$(head -n1 "$out/resolved")" != "fp $fp" ]; then
    if ! resolve_to_file "$fp"; then
        # Offline with an earlier build: keep serving it rather than failing the tests.
        if cached_build_ok ""; then
            log "warning: cannot resolve package versions; using the existing build in $out"
            echo "$out"; exit 0
        fi
        die "apt cannot resolve $KERNEL_META and $USERLAND (run apt-get update as root)"
    fi
fi
packages=$(tail -n +2 "$out/resolved")
key=$({ echo "$script_hash"; echo "$packages"; } | sha256sum | cut -c1-64)

if [ $force -eq 0 ] && cached_build_ok "$key"; then
    echo "$out"
    exit 0
fi

started=$(date +%s)
log "building guest $key in $out"
work=$(mktemp -d "$out/.build.XXXXXX")
trap 'rm -rf "$work"' EXIT
x=$work/extract
root=$work/root
mkdir -p "$x" "$root"

if ! download_debs; then
    # Lists older than the mirror (superseded versions are deleted from it): refresh and resolve again.
    [ "$(id -u)" -eq 0 ] || die "apt-get download failed (run apt-get update as root)"
    apt-get update -q >&2
    fp="$script_hash $(apt_fingerprint)"
    resolve_to_file "$fp" || die "apt cannot resolve the packages after apt-get update"
    packages=$(tail -n +2 "$out/resolved")
    key=$({ echo "$script_hash"; echo "$packages"; } | sha256sum | cut -c1-64)
    download_debs || die "apt-get download failed"
fi
while read -r name version; do
    dpkg -x "$(deb_path "$name" "$version")" "$x"
done <<<"$packages"

kernels=("$x"/boot/vmlinuz-*)
[ ${#kernels[@]} -eq 1 ] || die "expected one kernel in the packages, found ${#kernels[@]}"
kver=${kernels[0]##*/vmlinuz-}
populate_root "$kver"

cp "${kernels[0]}" "$work/vmlinuz"
# "." is included so that / gets mode 0755 rather than the rootfs default 1777. Fixed owners, times and
# inode numbers make the archive a function of its inputs: the same key gives the same sha256.
chmod 0755 "$root"
find "$root" -exec touch -h -d @0 {} +
(cd "$root" && find . | LC_ALL=C sort \
    | "$x/bin/busybox" cpio -o -H newc -R 0:0 --renumber-inodes --ignore-devno) 2>/dev/null \
    | gzip -1 -n >"$work/initrd.img"

{
    echo "# incus4j test guest; built by incus-qemu/guest/build-guest.sh"
    echo "format=1"
    echo "key=$key"
    echo "built=$(date -u +%Y-%m-%dT%H:%M:%SZ)"
    echo "kernel.release=$kver"
    echo "marker=$MARKER"
    while read -r name version; do echo "package.$name=$version"; done <<<"$packages"
    for f in vmlinuz initrd.img; do
        echo "size.$f=$(stat -c %s "$work/$f")"
        echo "sha256.$f=$(sha256sum "$work/$f" | cut -c1-64)"
    done
} >"$work/manifest"

# The manifest goes last: until it names the new key, a reader sees no complete build.
rm -f "$out/manifest"
mv -f "$work/vmlinuz" "$out/vmlinuz"
mv -f "$work/initrd.img" "$out/initrd.img"
mv -f "$work/manifest" "$out/manifest"

# Keep only the packages of this build.
for deb in "$out"/debs/*.deb; do
    keep=0
    while read -r name version; do
        [ "$deb" = "$(deb_path "$name" "$version")" ] && { keep=1; break; }
    done <<<"$packages"
    [ $keep -eq 1 ] || rm -f "$deb"
done

log "built in $(($(date +%s) - started)) s: vmlinuz $(stat -c %s "$out/vmlinuz") B, initrd.img $(stat -c %s "$out/initrd.img") B"
echo "$out"
