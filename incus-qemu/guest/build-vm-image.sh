#!/usr/bin/env bash
# Turns the test guest (build-guest.sh: vmlinuz + initrd.img) into what the qemu driver boots like an Incus image:
# a disk that boots through SeaBIOS (syslinux on a FAT partition, the guest's tree on an ext4 partition; made with
# mtools and mkfs.ext4 -d: no loop mount) and an Incus unified VM image tarball holding it (metadata.yaml + rootfs.img as qcow2).
#
# Output: ${INCUS4J_VM_IMAGE_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/incus4j/vm-image}/<key>/{disk.img,vm-image.tar,vmlinuz,initrd.img}
# (the kernel and initrd are copied too, for tests that boot them directly through raw.qemu)
# where <key> hashes this script and the guest's files; a second run with the same key only prints the
# directory. The last line on stdout is that directory; everything else goes to stderr.
# INCUS4J_GUEST=<dir> uses an already built guest instead of running build-guest.sh.
# Host packages: syslinux syslinux-common mtools dosfstools e2fsprogs cpio qemu-utils (installed when missing and
# root). Run as root: the guest's tree keeps its owners (root) in the ext4 root partition.
set -euo pipefail

log() { printf 'build-vm-image: %s\n' "$*" >&2; }
die() { log "error: $*"; exit 1; }

here=$(dirname "$(readlink -f "${BASH_SOURCE[0]}")")
guest=${INCUS4J_GUEST:-$("$here/build-guest.sh" | tail -n 1)}
[ -f "$guest/vmlinuz" ] && [ -f "$guest/initrd.img" ] || die "build-guest.sh gave no vmlinuz/initrd.img in '$guest'"

missing=()
for pair in syslinux:syslinux mcopy:mtools mkfs.fat:dosfstools mkfs.ext4:e2fsprogs cpio:cpio qemu-img:qemu-utils; do
    command -v "${pair%%:*}" >/dev/null || missing+=("${pair#*:}")
done
[ -f /usr/lib/syslinux/mbr/mbr.bin ] || [ -d /usr/lib/syslinux/modules ] || missing+=(syslinux-common)
if [ ${#missing[@]} -gt 0 ]; then
    [ "$(id -u)" -eq 0 ] || die "missing host packages: ${missing[*]}"
    log "installing ${missing[*]}"
    DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends "${missing[@]}" >&2
fi

key=$(cat "$0" "$guest/vmlinuz" "$guest/initrd.img" | sha256sum | cut -c1-16)
base=${INCUS4J_VM_IMAGE_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/incus4j/vm-image}
out=$base/$key
if [ -f "$out/vm-image.tar" ] && [ -f "$out/disk.img" ] && [ -f "$out/initrd.img" ]; then
    echo "$out"
    exit 0
fi
mkdir -p "$base"
tmp=$(mktemp -d "$base/.build.XXXXXX")
trap 'rm -rf "$tmp"' EXIT

# The disk: an MBR (syslinux's boot code), partition 1 FAT with syslinux, the kernel and the initrds (boots
# through SeaBIOS), partition 2 ext4 holding the guest's whole tree, so that files persist across boots and
# snapshots (the guest of build-guest.sh runs from RAM). The second initrd, appended to the first, replaces /init:
# it mounts incus4j.root= and switch_roots to it (or stays in RAM when there is none).
mkdir -p "$tmp/tree" "$tmp/overlay"
(cd "$tmp/tree" && gzip -dc "$guest/initrd.img" | cpio -i -d -m --quiet --no-absolute-filenames)
cat >"$tmp/overlay/init" <<'INIT'
#!/bin/sh
# incus4j disk root: boot from the partition named by incus4j.root= (ext4), else from RAM as build-guest.sh's /init.
umask 022
mount -t devtmpfs -o mode=0755 devtmpfs /dev
exec 0<>/dev/console 1>&0 2>&0
mount -t proc proc /proc
root=
for a in $(cat /proc/cmdline); do case "$a" in incus4j.root=?*) root=${a#incus4j.root=} ;; esac; done
umount /proc
if [ -n "$root" ]; then
    for m in virtio_ring virtio virtio_pci_modern_dev virtio_pci_legacy_dev virtio_pci virtio_blk; do
        insmod "/lib/modules/$m.ko" 2>/dev/null
    done
    i=0
    while [ ! -b "$root" ] && [ $i -lt 100 ]; do sleep 0.05; i=$((i + 1)); done
    mkdir -p /newroot
    if mount -t ext4 "$root" /newroot; then
        mount --move /dev /newroot/dev
        exec switch_root /newroot /sbin/init
    fi
    echo "incus4j: cannot mount $root, the guest runs from RAM"
fi
exec /sbin/init
INIT
chmod 0755 "$tmp/overlay/init"
(cd "$tmp/overlay" && echo init | cpio -o -H newc --quiet | gzip -1 >"$tmp/rootinit.img")

boot_kib=$(( ($(stat -c %s "$guest/vmlinuz") + $(stat -c %s "$guest/initrd.img")) / 1024 + 4096 ))
root_mib=256
mkfs.fat -C -h 2048 -n INCUS4J "$tmp/boot.img" "$boot_kib" >&2
syslinux --install "$tmp/boot.img"
cat >"$tmp/syslinux.cfg" <<'CFG'
DEFAULT guest
PROMPT 0
TIMEOUT 0
LABEL guest
  KERNEL vmlinuz
  INITRD initrd.img,rootinit.img
  APPEND console=ttyS0 quiet incus4j.root=/dev/vda2
CFG
mcopy -i "$tmp/boot.img" "$guest/vmlinuz" "$guest/initrd.img" "$tmp/rootinit.img" "$tmp/syslinux.cfg" ::
mkfs.ext4 -q -F -L incus4j-root -d "$tmp/tree" "$tmp/root.img" "${root_mib}M" >&2

boot_sectors=$(( boot_kib * 2 ))
root_start=$(( 2048 + boot_sectors ))
root_sectors=$(( root_mib * 2048 ))
truncate -s $(( (root_start + root_sectors) * 512 )) "$tmp/disk.img"
le32() { printf "\\x$(printf %02x $(($1 & 255)))\\x$(printf %02x $(($1 >> 8 & 255)))\\x$(printf %02x $(($1 >> 16 & 255)))\\x$(printf %02x $(($1 >> 24 & 255)))"; }
{
    dd if=/usr/lib/syslinux/mbr/mbr.bin bs=440 count=1 status=none
    printf '\0\0\0\0\0\0'
    printf '\x80\xfe\xff\xff\x0c\xfe\xff\xff'; le32 2048; le32 "$boot_sectors"
    printf '\x00\xfe\xff\xff\x83\xfe\xff\xff'; le32 "$root_start"; le32 "$root_sectors"
    head -c 32 /dev/zero
    printf '\x55\xaa'
} | dd of="$tmp/disk.img" conv=notrunc status=none
dd if="$tmp/boot.img" of="$tmp/disk.img" bs=512 seek=2048 conv=notrunc,sparse status=none
dd if="$tmp/root.img" of="$tmp/disk.img" bs=512 seek="$root_start" conv=notrunc,sparse status=none
qemu-img convert -f raw -O qcow2 "$tmp/disk.img" "$tmp/rootfs.img"
cat >"$tmp/metadata.yaml" <<META
architecture: x86_64
creation_date: $(date +%s)
expiry_date: 0
properties:
  description: incus4j test guest (busybox, qemu-ga, dropbear)
  os: busybox
  release: test
templates: {}
META
tar -C "$tmp" -cf "$tmp/vm-image.tar" metadata.yaml rootfs.img
mkdir -p "$out"
cp "$guest/vmlinuz" "$guest/initrd.img" "$tmp/"
mv "$tmp/disk.img" "$tmp/vm-image.tar" "$tmp/vmlinuz" "$tmp/initrd.img" "$out/"
log "built $out"
echo "$out"
