#!/usr/bin/env bash
# Installs what ctpanel needs on a Debian 12 / Ubuntu host, only what is
# missing: liblxc and its headers, busybox-static for the busybox template,
# lxcfs (started if it is not running),
# PostgreSQL's server binaries, a C toolchain for cgo, e2fsprogs for
# containers' loop disks, debootstrap with Debian's archive keyring and
# gpgv, zstd and xz-utils for building and importing OS images, Chromium
# for the web panel's browser tests, Exim for the mail tests' SMTP server
# (its service left off), and Go itself.
set -euo pipefail

if [ "$(id -u)" -ne 0 ]; then
	echo "install-deps: run as root (liblxc containers and apt need it)" >&2
	exit 1
fi

pkgs=(lxc lxc-dev liblxc1 busybox-static lxcfs nftables pkg-config postgresql gcc libc6-dev make rsync
	ca-certificates curl tar gzip iproute2 procps e2fsprogs chromium
	iperf3 util-linux restic openssh-client openssh-server
	debootstrap debian-archive-keyring gpgv zstd xz-utils)
# Where the kernel runs AppArmor (Debian's and Ubuntu's do), liblxc's
# generated container profiles need apparmor_parser: without it no
# container starts.
if [ "$(cat /sys/module/apparmor/parameters/enabled 2>/dev/null)" = "Y" ]; then
	pkgs+=(apparmor)
fi
# Exim (exim4-daemon-light) is only for the mail tests' own SMTP server
# (mail/mailtest: a config of the test's own on a loopback port). It is
# Debian's default MTA; installing it over another MTA would remove that
# one, so with another installed it is left out (the mail tests then skip,
# or fail with CI=true) and said so. Its system service is neither
# started (policy-rc.d) nor left enabled, so nothing listens on port 25.
if ! command -v exim4 >/dev/null 2>&1 && ! [ -x /usr/sbin/exim4 ]; then
	other_mta=$(dpkg-query -W -f='${db:Status-Abbrev} ${Package} ${Provides}\n' 2>/dev/null |
		awk '$1 == "ii" && / mail-transport-agent/ {print $2}' | head -n1)
	if [ -n "$other_mta" ]; then
		echo "install-deps: $other_mta is installed: not installing exim4-daemon-light (the mail tests' SMTP server), which would replace it" >&2
	else
		pkgs+=(exim4-daemon-light)
	fi
fi
# npm builds the web pages' front-end libraries (scripts/build-web.sh): any
# installed Node.js will do, else Debian's.
if ! command -v npm >/dev/null 2>&1; then
	pkgs+=(nodejs npm)
fi
missing=()
for p in "${pkgs[@]}"; do
	dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
	echo "install-deps: installing ${missing[*]}"
	export DEBIAN_FRONTEND=noninteractive
	# openssh-server is only for the tests' own sshd (an SFTP backup
	# target in a network namespace): installed here, the host's ssh
	# service is neither started (policy-rc.d) nor left enabled.
	policy=""
	if [ ! -e /usr/sbin/policy-rc.d ]; then
		printf '#!/bin/sh\nexit 101\n' >/usr/sbin/policy-rc.d
		chmod 755 /usr/sbin/policy-rc.d
		policy=/usr/sbin/policy-rc.d
	fi
	apt-get update -qq
	apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
	if [ -n "$policy" ]; then rm -f "$policy"; fi
	if [[ " ${missing[*]} " == *" openssh-server "* ]] && [ -d /run/systemd/system ]; then
		systemctl disable ssh.service ssh.socket >/dev/null 2>&1 || true
	fi
	if [[ " ${missing[*]} " == *" exim4-daemon-light "* ]]; then
		if [ -d /run/systemd/system ]; then
			systemctl disable --now exim4.service >/dev/null 2>&1 || true
		else
			update-rc.d exim4 disable >/dev/null 2>&1 || true
		fi
	fi
fi

# Go: the version go.mod asks for, from go.dev, when no go is on PATH.
GO_VERSION=$(awk '/^go /{print $2}' "$(dirname "$0")/../go.mod")
if ! command -v go >/dev/null 2>&1 && [ ! -x /usr/local/go/bin/go ]; then
	echo "install-deps: installing Go ${GO_VERSION} into /usr/local/go"
	curl -fsSL "https://go.dev/dl/go${GO_VERSION}.linux-amd64.tar.gz" | tar -C /usr/local -xz
fi

# lxcfs gives each container its own /proc/meminfo, cpuinfo, stat, uptime
# and loadavg (free, top and uptime inside show the container's limits).
# Debian's package starts it under systemd; on a host without systemd
# (containers, CI sandboxes) it is started here, the way its unit does.
# A mount left by an lxcfs that died answers "Transport endpoint is not
# connected": it is unmounted (lazily) and lxcfs started again.
lxcfs_ok() { cat /var/lib/lxcfs/proc/uptime >/dev/null 2>&1; }
if ! lxcfs_ok; then
	if grep -qs ' /var/lib/lxcfs fuse.lxcfs ' /proc/self/mounts; then
		echo "install-deps: lxcfs on /var/lib/lxcfs does not answer; unmounting the stale mount"
		umount -l /var/lib/lxcfs
	fi
	if [ -d /run/systemd/system ]; then
		systemctl restart lxcfs
	else
		mkdir -p /var/lib/lxcfs
		# its own session, so that it outlives make and its process group
		setsid -f lxcfs --enable-loadavg --enable-cfs --enable-pidfd /var/lib/lxcfs >/dev/null 2>&1 </dev/null
	fi
	for _ in $(seq 50); do
		lxcfs_ok && break
		sleep 0.1
	done
	lxcfs_ok || { echo "install-deps: lxcfs did not start on /var/lib/lxcfs" >&2; exit 1; }
fi

# promtool, to check /metrics in tests: taken out of Debian's prometheus
# package into .tools/ without installing (or starting) the server.
tools="$(cd "$(dirname "$0")/.." && pwd)/.tools"
if [ ! -x "$tools/promtool" ] && ! command -v promtool >/dev/null 2>&1; then
	echo "install-deps: extracting promtool from Debian's prometheus package into $tools"
	mkdir -p "$tools/deb"
	(cd "$tools/deb" && apt-get download -qq prometheus >/dev/null 2>&1 || { apt-get update -qq && apt-get download -qq prometheus; })
	dpkg-deb -x "$tools"/deb/prometheus_*.deb "$tools/deb/root"
	cp "$tools/deb/root/usr/bin/promtool" "$tools/promtool"
	rm -rf "$tools/deb"
fi
