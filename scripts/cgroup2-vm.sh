#!/usr/bin/env bash
# make test-cgroup2: ctpanel's real-container tests on a real Debian 12 with
# cgroup v2 only, in a virtual machine on this host (qemu under software
# emulation where there is no KVM).
#
# 1. A disk image is built from Debian's archive (debootstrap: Debian's
#    kernel, systemd, lxc, lxcfs, PostgreSQL, busybox-static and what the
#    tests need) and cached in $CTPANEL_VM_CACHE (/var/cache/ctpanel-vm),
#    keyed by the package list and the image's revision: a second run
#    reuses it.
# 2. The test binaries are built on the host (go test -c) into a folder the
#    VM mounts read-only over 9p, with the script the VM runs.
# 3. The VM boots with systemd's default unified hierarchy, runs the tests
#    (a systemd unit with Delegate=yes), writes their output and exit code
#    to a second, writable 9p folder and powers off.
# 4. This script prints what the VM printed and exits with the tests' code.
set -euo pipefail

here=$(cd "$(dirname "$0")/.." && pwd)
cache=${CTPANEL_VM_CACHE:-/var/cache/ctpanel-vm}
mirror=${CTPANEL_IMAGE_MIRROR:-http://deb.debian.org/debian}
mem=${CTPANEL_VM_MEMORY:-6144}
timeout_s=${CTPANEL_VM_TIMEOUT:-2400}
# Each test binary's own limit inside (go test -timeout).
test_timeout=${CTPANEL_VM_TEST_TIMEOUT:-15m}
# CTPANEL_VM_TESTS="lxcdriver_liblxc:TestLiveLoop server:TestRealDiskspace"
# runs those alone instead of the lane's list.
only=${CTPANEL_VM_TESTS:-}
pkgs=linux-image-amd64,systemd-sysv,udev,dbus,kmod,apparmor,lxc,lxcfs,liblxc1,busybox-static,postgresql,iproute2,iputils-ping,nftables,e2fsprogs,rsync,procps,ca-certificates,zstd,xz-utils,tar,gzip,util-linux,openssh-client

if [ "$(id -u)" -ne 0 ]; then
	echo "cgroup2-vm: run as root" >&2
	exit 1
fi
need=()
for p in qemu-system-x86 qemu-utils debootstrap debian-archive-keyring e2fsprogs; do
	dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || need+=("$p")
done
if [ ${#need[@]} -gt 0 ]; then
	echo "cgroup2-vm: installing ${need[*]}"
	DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
fi

# The cache key: what goes into the image (the package list, and the
# revision of the image's own files below: bump it when they change).
image_rev=1
key=$(echo "bookworm $pkgs rev=$image_rev" | sha256sum | cut -c1-16)
img=$cache/$key
if [ ! -f "$img/disk.img" ]; then
	echo "cgroup2-vm: building the Debian 12 image $img (once; cached)"
	t0=$(date +%s)
	rm -rf "$img.tmp"
	mkdir -p "$img.tmp"
	root=$img.tmp/root
	debootstrap --variant=minbase --include="$pkgs" --keyring=/usr/share/keyrings/debian-archive-keyring.gpg \
		bookworm "$root" "$mirror" >"$img.tmp/debootstrap.log" 2>&1 || { tail -20 "$img.tmp/debootstrap.log"; exit 1; }
	echo ctpanel-vm >"$root/etc/hostname"
	printf '/dev/vda / ext4 rw,relatime 0 1\n' >"$root/etc/fstab"
	printf '9p\n9pnet\n9pnet_virtio\n' >"$root/etc/modules-load.d/9p.conf"
	: >"$root/etc/machine-id"
	# The lane: mount the shares, run what the host put there, power off.
	cat >"$root/etc/systemd/system/ctpanel-lane.service" <<'UNIT'
[Unit]
Description=ctpanel cgroup v2 test lane
After=local-fs.target network.target
[Service]
Type=oneshot
Delegate=yes
StandardOutput=journal+console
StandardError=journal+console
ExecStart=/bin/sh -c 'mkdir -p /lane /out && mount -t 9p -o trans=virtio,version=9p2000.L,ro lane /lane && mount -t 9p -o trans=virtio,version=9p2000.L out /out && /lane/inside.sh; echo $? >/out/exit-code; sync'
ExecStopPost=/bin/systemctl poweroff --no-block
[Install]
WantedBy=multi-user.target
UNIT
	ln -sf /etc/systemd/system/ctpanel-lane.service "$root/etc/systemd/system/multi-user.target.wants/ctpanel-lane.service"
	# No PostgreSQL, lxc-net or apt timers of the image's own: the tests
	# start their private clusters.
	for u in postgresql.service lxc-net.service lxc.service apt-daily.timer apt-daily-upgrade.timer e2scrub_all.timer fstrim.timer; do
		ln -sf /dev/null "$root/etc/systemd/system/$u"
	done
	cp "$root"/boot/vmlinuz-* "$img.tmp/vmlinuz"
	cp "$root"/boot/initrd.img-* "$img.tmp/initrd"
	rm -rf "$root/var/cache/apt/archives/"*.deb "$root/var/lib/apt/lists/"*
	mkfs.ext4 -q -L ctpanel-vm -d "$root" "$img.tmp/disk.img" 12G
	rm -rf "$root"
	mv "$img.tmp" "$img"
	echo "cgroup2-vm: image built in $(( $(date +%s) - t0 )) s"
fi

if [ -n "${CTPANEL_VM_IMAGE_ONLY:-}" ]; then
	echo "cgroup2-vm: image at $img"
	exit 0
fi
work=$(mktemp -d /tmp/ctpanel-vm-XXXXXX)
trap 'rm -rf "$work"' EXIT
mkdir -p "$work/lane" "$work/out"
chmod 777 "$work/out"
echo "cgroup2-vm: building the test binaries"
t0=$(date +%s)
(cd "$here" && for pkg in lxcdriver/liblxc lxcdriver/cgroups monitor server; do
	name=$(echo "$pkg" | tr / _)
	go test -c -o "$work/lane/$name.test" "./$pkg"
	# Each binary runs in a folder of its own holding its package's
	# testdata, as go test runs it in the package's folder.
	mkdir -p "$work/lane/$name"
	if [ -d "$pkg/testdata" ]; then cp -a "$pkg/testdata" "$work/lane/$name/"; fi
done)
(cd "$here" && CGO_ENABLED=0 go build -o "$work/lane/attack" ./lxcdriver/liblxc/testdata/attack)
cp "$here/scripts/cgroup2-inside.sh" "$work/lane/inside.sh"
echo "$test_timeout" >"$work/lane/test-timeout"
for t in $only; do echo "${t%%:*} ${t#*:}"; done >"$work/lane/only"
chmod 755 "$work/lane/inside.sh"
cp /usr/share/lxc/templates/lxc-busybox "$work/lane/" 2>/dev/null || true
echo "cgroup2-vm: built in $(( $(date +%s) - t0 )) s; booting the VM (qemu, $( [ -e /dev/kvm ] && echo KVM || echo 'software emulation') )"
qemu-img create -q -f qcow2 -F raw -b "$img/disk.img" "$work/overlay.qcow2"
accel=tcg
[ -e /dev/kvm ] && accel=kvm
t0=$(date +%s)
set +e
timeout "$timeout_s" qemu-system-x86_64 -machine q35,accel=$accel -cpu max -smp "$(nproc)" -m "$mem" -nographic -no-reboot \
	-kernel "$img/vmlinuz" -initrd "$img/initrd" \
	-append "root=/dev/vda rw console=ttyS0 quiet systemd.show_status=0 loglevel=3" \
	-drive file="$work/overlay.qcow2",if=virtio,format=qcow2 \
	-virtfs local,path="$work/lane",mount_tag=lane,security_model=none,readonly=on \
	-virtfs local,path="$work/out",mount_tag=out,security_model=none \
	-nic none >"$work/console.log" 2>&1
qrc=$?
set -e
echo "cgroup2-vm: the VM ran $(( $(date +%s) - t0 )) s (qemu exit $qrc)"
# Every binary's verbose output stays in test-artifacts/cgroup2.
rm -rf "$here/test-artifacts/cgroup2"
mkdir -p "$here/test-artifacts"
cp -a "$work/out" "$here/test-artifacts/cgroup2"
cp "$work/console.log" "$here/test-artifacts/cgroup2/"
if [ -f "$work/out/results.txt" ]; then
	cat "$work/out/results.txt"
else
	echo "cgroup2-vm: no results; the VM's console said:"
	tail -50 "$work/console.log"
fi
code=$(cat "$work/out/exit-code" 2>/dev/null || echo 1)
echo "cgroup2-vm: tests exit code $code"
exit "$code"
