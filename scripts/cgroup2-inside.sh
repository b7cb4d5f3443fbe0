#!/bin/sh
# Runs inside the cgroup v2 test VM (scripts/cgroup2-vm.sh): what the
# host says, then the tests that differ between cgroup v1 and v2, each
# binary's verbose output kept in /out and a summary in /out/results.txt.
out=/out/results.txt
export CI=true HOME=/root CTPANEL_ATTACK_HELPER=/lane/attack PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin
{
	echo "== the VM"
	echo "kernel: $(uname -r)"
	echo "cgroup fs: $(stat -fc %T /sys/fs/cgroup)"
	echo "controllers: $(cat /sys/fs/cgroup/cgroup.controllers)"
	echo "lxc: $(lxc-start --version 2>&1), lxcfs: $(lxcfs --version 2>&1 | head -1)"
} >"$out"
# lxcfs, as Debian's unit starts it (masked units aside, the image runs it).
if ! cat /var/lib/lxcfs/proc/uptime >/dev/null 2>&1; then
	mkdir -p /var/lib/lxcfs
	lxcfs --enable-loadavg --enable-cfs /var/lib/lxcfs >/out/lxcfs.log 2>&1 &
	sleep 2
fi
# What liblxc says when it starts a plain busybox container here, kept
# for whoever reads a failure.
mkdir -p /tmp/diag
if lxc-create -P /tmp/diag -n diag -t busybox >/out/diag-create.log 2>&1; then
	lxc-start -P /tmp/diag -n diag -l DEBUG -o /out/diag-start.log >>/out/diag-create.log 2>&1
	echo "liblxc's debug log of a plain busybox start: diag-start.log" >>"$out"
	lxc-stop -P /tmp/diag -n diag -k >/dev/null 2>&1
	lxc-destroy -P /tmp/diag -n diag >/dev/null 2>&1
fi
rc=0
run() { # binary, -run pattern
	name=$1
	shift
	echo "== $name $*" >>"$out"
	start=$(date +%s)
	cd "/lane/$name"
	# A hang fails the binary with Go's goroutine dump in its log well
	# before the host's limit on the whole VM.
	/lane/$name.test -test.v -test.timeout "$(cat /lane/test-timeout 2>/dev/null || echo 15m)" "$@" >"/out/$name.log" 2>&1
	r=$?
	grep -E '^(=== RUN|--- (PASS|FAIL|SKIP)|PASS|FAIL|ok )' "/out/$name.log" | grep -v '^=== RUN' >>"$out"
	grep -E 'cgroup|failcnt|numproc|physpages|oom|frozen|freeze' "/out/$name.log" | grep -E '^\s+\S+_test.go' | head -40 >>"$out"
	echo "-- $name: exit $r in $(( $(date +%s) - start )) s" >>"$out"
	[ $r -eq 0 ] || rc=1
}
if [ -s /lane/only ]; then
	# CTPANEL_VM_TESTS on the host: "binary pattern" lines, run alone.
	while read -r bin pattern; do
		run "$bin" -test.run "$pattern"
	done </lane/only
	echo "== done: exit $rc" >>"$out"
	exit $rc
fi
run lxcdriver_cgroups
run monitor -test.run 'V2OnRealHierarchy|Subscribe'
# TestLimitsInCgroupFiles is left out: its table is v1's files (memsw,
# kmem.tcp, shares); the v2 files are TestApplyV2's.
run lxcdriver_liblxc -test.run 'TestDriver|TestAttackSuite$|TestFreezerV2OnRealHierarchy|TestNumprocLimit|TestPhysPagesLimit|TestBeancounterInstance|TestResourceViewsWithLXCFS|TestLiveLoop'
run server -test.run 'TestRealBeancounters|TestRealLifecycleAgreesWithLXCTools|TestRealDiskspace'
echo "== done: exit $rc" >>"$out"
exit $rc
