package containers

import (
	"context"
	"strconv"
	"time"

	"github.com/ctpanel/ctpanel/db"
	"github.com/ctpanel/ctpanel/domain/policy"
	"github.com/ctpanel/ctpanel/lxcdriver"
)

// Usage is one container's usage for an invoice period.
type Usage struct {
	CTID            int       `json:"ctid"`
	From            time.Time `json:"from"`
	To              time.Time `json:"to"`
	CPUSeconds      float64   `json:"cpu_seconds"`
	MemoryPeakBytes uint64    `json:"memory_peak_bytes"`
	MemoryAvgBytes  uint64    `json:"memory_avg_bytes"`
	NetworkInBytes  *uint64   `json:"network_in_bytes"`
	NetworkOutBytes *uint64   `json:"network_out_bytes"`
	DiskUsedBytes   *uint64   `json:"disk_used_bytes"`
	// Backups and BackupStoredBytes are the container's finished backups
	// now, and the new data they added to their targets (deduplicated; before compression).
	Backups           int               `json:"backups"`
	BackupStoredBytes int64             `json:"backup_stored_bytes"`
	UptimeSeconds     float64           `json:"uptime_seconds"`
	Failcnt           map[string]uint64 `json:"failcnt"`
	Samples           int               `json:"samples"`
}

// uptimeGap: consecutive samples closer than this count as up between them
// (it covers the 10 s raw interval and 1 min downsampled buckets).
const uptimeGap = 150 * time.Second

// usageOf folds one container's samples (ordered by resource, time).
func usageOf(ctid int, from, to time.Time, samples []db.Sample) Usage {
	u := Usage{CTID: ctid, From: from, To: to, Failcnt: map[string]uint64{}}
	var memSum, memN uint64
	var cpuMs uint64
	var prev *db.Sample
	firstFail := map[string]uint64{}
	for i := range samples {
		s := &samples[i]
		same := prev != nil && prev.Resource == s.Resource
		switch s.Resource {
		case lxcdriver.ResCPU:
			if same {
				if s.MaxHeld >= prev.MaxHeld {
					cpuMs += s.MaxHeld - prev.MaxHeld
				} else { // restarted: the counter began again
					cpuMs += s.MaxHeld
				}
			}
		case lxcdriver.ResPhysPages:
			u.MemoryPeakBytes = max(u.MemoryPeakBytes, s.MaxHeld*4096)
			memSum += s.Held * 4096
			memN++
		case lxcdriver.ResNumProc:
			u.Samples++
			if same {
				if gap := s.At.Sub(prev.At); gap <= uptimeGap {
					u.UptimeSeconds += gap.Seconds()
				}
			}
		}
		if _, ok := firstFail[s.Resource]; !ok {
			firstFail[s.Resource] = s.FailCnt
		}
		if s.FailCnt >= firstFail[s.Resource] {
			u.Failcnt[s.Resource] = s.FailCnt - firstFail[s.Resource]
		}
		prev = s
	}
	u.CPUSeconds = float64(cpuMs) / 1000
	if memN > 0 {
		u.MemoryAvgBytes = memSum / memN
	}
	return u
}

// Usage is the container ref's usage from the stored history between
// from and to: CPU seconds, memory peak and average, uptime and failcnt
// growth, right across restarts, and its disk use when it has a disk.
func (s *Service) Usage(ctx context.Context, p db.Principal, ref string, from, to time.Time) (Usage, error) {
	c, err := s.Get(ctx, p, ref)
	if err != nil {
		return Usage{}, err
	}
	samples, err := s.Store.UsageSamples(ctx, c.CTID, from, to)
	if err != nil {
		return Usage{}, err
	}
	u := usageOf(c.CTID, from, to, samples)
	hours, err := s.Store.TrafficHours(ctx, c.CTID, from, to)
	if err != nil {
		return Usage{}, err
	}
	addTraffic(&u, hours)
	bu, err := s.Store.BackupUsageOf(ctx)
	if err != nil {
		return Usage{}, err
	}
	u.Backups, u.BackupStoredBytes = bu[c.CTID].Count, bu[c.CTID].StoredBytes
	if du, err := s.Drv.DiskUsage(ctx, strconv.Itoa(c.CTID)); err == nil && du.Loop {
		u.DiskUsedBytes = &du.UsedBytes
	}
	return u, nil
}

// AllUsage is Usage of every container p may see.
func (s *Service) AllUsage(ctx context.Context, p db.Principal, from, to time.Time) ([]Usage, error) {
	list, err := s.Store.ListContainers(ctx, policy.OwnerScope(p))
	if err != nil {
		return nil, err
	}
	samples, err := s.Store.UsageSamples(ctx, 0, from, to)
	if err != nil {
		return nil, err
	}
	by := map[int][]db.Sample{}
	for _, s := range samples {
		by[s.CTID] = append(by[s.CTID], s)
	}
	hours, err := s.Store.TrafficHours(ctx, 0, from, to)
	if err != nil {
		return nil, err
	}
	traffic := map[int][]db.TrafficHour{}
	for _, h := range hours {
		traffic[h.CTID] = append(traffic[h.CTID], h)
	}
	bu, err := s.Store.BackupUsageOf(ctx)
	if err != nil {
		return nil, err
	}
	out := make([]Usage, 0, len(list))
	for _, c := range list {
		u := usageOf(c.CTID, from, to, by[c.CTID])
		addTraffic(&u, traffic[c.CTID])
		u.Backups, u.BackupStoredBytes = bu[c.CTID].Count, bu[c.CTID].StoredBytes
		out = append(out, u)
	}
	return out, nil
}

// addTraffic puts the traffic of the hours in u's period into u: counted
// per hour, so the hours from's and to's instants fall in count whole.
func addTraffic(u *Usage, hours []db.TrafficHour) {
	var in, out uint64
	for _, h := range hours {
		in += h.InBytes
		out += h.OutBytes
	}
	u.NetworkInBytes, u.NetworkOutBytes = &in, &out
}

// TrafficHour is one hour of a container's traffic as the pages chart it.
type TrafficHour struct {
	Hour       time.Time `json:"hour"`
	InBytes    uint64    `json:"in_bytes"`
	OutBytes   uint64    `json:"out_bytes"`
	InPackets  uint64    `json:"in_packets"`
	OutPackets uint64    `json:"out_packets"`
}

// Traffic is container ref's traffic per hour between from and to.
func (s *Service) Traffic(ctx context.Context, p db.Principal, ref string, from, to time.Time) ([]TrafficHour, error) {
	c, err := s.Get(ctx, p, ref)
	if err != nil {
		return nil, err
	}
	hours, err := s.Store.TrafficHours(ctx, c.CTID, from, to)
	if err != nil {
		return nil, err
	}
	out := make([]TrafficHour, 0, len(hours))
	for _, h := range hours {
		out = append(out, TrafficHour{Hour: h.Hour, InBytes: h.InBytes, OutBytes: h.OutBytes, InPackets: h.InPackets, OutPackets: h.OutPackets})
	}
	return out, nil
}

// CPUPercent is the container ref's CPU use between from and to, from its
// stored samples, in per cent of one CPU; ok is false without two samples
// to measure between.
func (s *Service) CPUPercent(ctx context.Context, p db.Principal, ref string, from, to time.Time) (pct float64, ok bool, err error) {
	c, err := s.Get(ctx, p, ref)
	if err != nil {
		return 0, false, err
	}
	samples, err := s.Store.UsageSamples(ctx, c.CTID, from, to)
	if err != nil {
		return 0, false, err
	}
	u := usageOf(c.CTID, from, to, samples)
	if u.UptimeSeconds <= 0 {
		return 0, false, nil
	}
	return 100 * u.CPUSeconds / u.UptimeSeconds, true, nil
}

// Disk is the container ref's own disk now (its customer, or staff): nil
// for a container without one (a directory rootfs has no quota).
func (s *Service) Disk(ctx context.Context, p db.Principal, ref string) (*lxcdriver.DiskUsage, error) {
	c, err := s.Get(ctx, p, ref)
	if err != nil {
		return nil, err
	}
	du, err := s.Drv.DiskUsage(ctx, strconv.Itoa(c.CTID))
	if err != nil || !du.Loop {
		return nil, nil // no disk, or none to read right now: no meter
	}
	return &du, nil
}
