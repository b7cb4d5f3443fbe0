package monitor

import (
	"context"
	"errors"
	"log/slog"
	"strconv"
	"sync"
	"time"

	"github.com/ctpanel/ctpanel/db"
	"github.com/ctpanel/ctpanel/hoststat"
	"github.com/ctpanel/ctpanel/lxcdriver"
	"github.com/ctpanel/ctpanel/ubc"
)

// Row is a beancounter row with the failcnt ctpanel keeps across restarts.
type Row struct {
	Resource string `json:"resource"`
	Held     uint64 `json:"held"`
	MaxHeld  uint64 `json:"maxheld"`
	Barrier  uint64 `json:"barrier"`
	Limit    uint64 `json:"limit"`
	// FailCnt is cumulative over the container's life; the kernel's own
	// count, reset at every start, is FailCntSinceStart.
	FailCnt           uint64 `json:"failcnt"`
	FailCntSinceStart uint64 `json:"failcnt_since_start"`
}

// Settings of the sampler.
type Settings struct {
	Interval     time.Duration // between samples (default 10s)
	RawRetention time.Duration // raw samples kept this long, then downsampled (default 1h)
	Step         time.Duration // width of downsampled buckets (default 1m)
	// StepRetention is how long Step buckets are kept before they are
	// rolled up into CoarseStep ones (default 48h, then 1h): a day's
	// chart reads minutes, a month's hours.
	StepRetention time.Duration
	CoarseStep    time.Duration
	Retention     time.Duration // every sample is deleted after this (default 30 days)
}

func (s *Settings) defaults() {
	if s.Interval <= 0 {
		s.Interval = 10 * time.Second
	}
	if s.RawRetention <= 0 {
		s.RawRetention = time.Hour
	}
	if s.Step <= 0 {
		s.Step = time.Minute
	}
	if s.Retention <= 0 {
		s.Retention = 30 * 24 * time.Hour
	}
	if s.StepRetention <= 0 {
		s.StepRetention = 48 * time.Hour
	}
	if s.CoarseStep <= 0 {
		s.CoarseStep = time.Hour
	}
}

// Notifier is told of each failcnt alert as it opens: once per alert
// (its repeats, folded into it, are not), whatever the plan's threshold
// held back before. AlertOpened runs in the sampler's goroutine, after
// the alert is committed and published on the bus: it must hand slow
// work (sending mail) to a queue of its own rather than block, and it
// cannot refuse the alert. Webhooks do not go through it: they are
// recorded from the bus through the outbox (webhooks.Dispatcher).
type Notifier interface {
	AlertOpened(ctx context.Context, a db.Alert)
}

// Monitor samples and serves beancounters.
type Monitor struct {
	Store    *db.Store
	Drv      lxcdriver.Driver
	Bus      *Bus
	Log      *slog.Logger
	Settings Settings
	// Notifiers hear of alerts as they open; set them before Run.
	Notifiers []Notifier

	mu      sync.Mutex
	cache   map[int]cached
	observe sync.Mutex // one failcnt fold at a time per process

	cpuBusy, cpuTotal uint64 // the host's CPU times at the last host sample
}

type cached struct {
	at   time.Time
	rows []Row
	err  error
}

// liveTTL is how stale a live read may be: watchers of one container share
// reads within it.
const liveTTL = 50 * time.Millisecond

// New makes a Monitor.
func New(store *db.Store, drv lxcdriver.Driver, bus *Bus, log *slog.Logger, s Settings) *Monitor {
	s.defaults()
	return &Monitor{Store: store, Drv: drv, Bus: bus, Log: log, Settings: s,
		cache: map[int]cached{}}
}

// Invalidate drops a container's cached rows (its limits changed).
func (m *Monitor) Invalidate(ctid int) {
	m.mu.Lock()
	delete(m.cache, ctid)
	m.mu.Unlock()
}

// Live reads a container's rows now (or from a read under liveTTL old),
// folding failcnts into the cumulative totals and raising alerts.
func (m *Monitor) Live(ctx context.Context, ctid int) ([]Row, error) {
	rows, _, err := m.LiveAt(ctx, ctid)
	return rows, err
}

// LiveAt is Live that also says when the rows were read from the kernel.
func (m *Monitor) LiveAt(ctx context.Context, ctid int) ([]Row, time.Time, error) {
	m.mu.Lock()
	if c, ok := m.cache[ctid]; ok && time.Since(c.at) < liveTTL {
		m.mu.Unlock()
		return c.rows, c.at, c.err
	}
	m.mu.Unlock()
	at := time.Now()
	rows, err := m.read(ctx, ctid)
	m.mu.Lock()
	m.cache[ctid] = cached{at: at, rows: rows, err: err}
	m.mu.Unlock()
	return rows, at, err
}

// read takes one container's rows from the kernel and folds them.
func (m *Monitor) read(ctx context.Context, ctid int) ([]Row, error) {
	counters, err := m.Drv.Beancounters(ctx, strconv.Itoa(ctid))
	if err != nil {
		return nil, err
	}
	rows, err := m.fold(ctx, map[int][]lxcdriver.Counter{ctid: counters})
	if err != nil {
		return nil, err
	}
	return append(rows[ctid], m.diskRows(ctx, ctid)...), nil
}

// diskRows are diskspace (1K blocks) and diskinodes for a container on a
// disk of its own; a container on the host's filesystem has none. ext4
// counts no refused writes, so failcnt stays 0.
func (m *Monitor) diskRows(ctx context.Context, ctid int) []Row {
	du, err := m.Drv.DiskUsage(ctx, strconv.Itoa(ctid))
	if err != nil || !du.Loop {
		return nil
	}
	return []Row{
		{Resource: "diskspace", Held: du.UsedBytes / 1024, MaxHeld: du.UsedBytes / 1024, Barrier: du.SizeBytes / 1024, Limit: du.SizeBytes / 1024},
		{Resource: "diskinodes", Held: du.InodesUsed, MaxHeld: du.InodesUsed, Barrier: du.Inodes, Limit: du.Inodes},
	}
}

// fold turns kernel counters into rows with cumulative failcnts, for many
// containers in one database round trip, and raises alerts for failcnts
// that grew.
func (m *Monitor) fold(ctx context.Context, counters map[int][]lxcdriver.Counter) (map[int][]Row, error) {
	var obs []db.FailcntObservation
	for ctid, cs := range counters {
		for _, c := range cs {
			obs = append(obs, db.FailcntObservation{CTID: ctid, Resource: c.Resource, Raw: c.FailCnt, Instance: c.Instance})
		}
	}
	m.observe.Lock()
	totals, err := m.Store.ObserveFailcnt(ctx, obs)
	m.observe.Unlock()
	if err != nil {
		return nil, err
	}
	type key struct {
		ctid int
		res  string
	}
	byKey := make(map[key]uint64, len(totals))
	var grew []db.FailcntTotal
	for _, t := range totals {
		byKey[key{t.CTID, t.Resource}] = t.Total
		if t.Total > t.Before {
			grew = append(grew, t)
		}
	}
	m.alert(ctx, grew)
	out := make(map[int][]Row, len(counters))
	for ctid, cs := range counters {
		rows := make([]Row, len(cs))
		for i, c := range cs {
			rows[i] = Row{Resource: c.Resource, Held: c.Held, MaxHeld: c.MaxHeld, Barrier: c.Barrier,
				Limit: c.Limit, FailCnt: byKey[key{ctid, c.Resource}], FailCntSinceStart: c.FailCnt}
		}
		out[ctid] = rows
	}
	return out, nil
}

// alert folds failcnts that grew into their containers' alerts, under
// the thresholds of their plans, and tells whoever listens of each alert
// that opens: the bus (the events websocket and the webhooks' outbox) and
// the Notifiers. A repeat of an open alert only updates it.
func (m *Monitor) alert(ctx context.Context, grew []db.FailcntTotal) {
	if len(grew) == 0 {
		return
	}
	ctids := make([]int, 0, len(grew))
	for _, t := range grew {
		ctids = append(ctids, t.CTID)
	}
	stored, err := m.Store.AlertThresholds(ctx, ctids)
	if err != nil {
		m.Log.Warn("read alert thresholds", "err", err)
	}
	for _, t := range grew {
		ths, err := ubc.DecodeAlertThresholds(stored[t.CTID])
		if err != nil {
			m.Log.Warn("alert thresholds of the container's plan", "ctid", t.CTID, "err", err)
		}
		th := ths.For(t.Resource)
		if th.None {
			continue
		}
		a, opened, err := m.Store.RecordFailcntGrowth(ctx, db.FailcntGrowth{CTID: t.CTID, Resource: t.Resource,
			Old: t.Before, New: t.Total, Failures: th.Failures, Window: th.Window})
		if err != nil {
			m.Log.Warn("record failcnt alert", "ctid", t.CTID, "err", err)
			continue
		}
		m.Log.Debug("failcnt grew", "ctid", t.CTID, "resource", t.Resource, "old", t.Before, "new", t.Total, "alert", a.ID, "count", a.Count)
		if !opened {
			continue
		}
		m.Log.Info("failcnt alert opened", "ctid", t.CTID, "resource", t.Resource, "old", a.Old, "new", a.New, "alert", a.ID, "count", a.Count)
		old, cur := a.Old, a.New
		m.Bus.Publish(Event{Type: "alert", CTID: t.CTID, Resource: t.Resource, Old: &old, New: &cur, AlertID: a.ID, Count: a.Count, At: *a.RaisedAt})
		for _, n := range m.Notifiers {
			n.AlertOpened(ctx, a)
		}
	}
}

// SampleOnce records every running container's rows; it returns how many
// containers it sampled.
func (m *Monitor) SampleOnce(ctx context.Context) (int, error) {
	list, err := m.Store.ListContainers(ctx, nil)
	if err != nil {
		return 0, err
	}
	counters := make(map[int][]lxcdriver.Counter, len(list))
	var stopped []db.Container
	for _, c := range list {
		if c.Phase != db.PhaseReady {
			continue
		}
		cs, err := m.Drv.Beancounters(ctx, strconv.Itoa(c.CTID))
		if errors.Is(err, lxcdriver.ErrNotRunning) {
			stopped = append(stopped, c)
			continue
		}
		if errors.Is(err, lxcdriver.ErrNotFound) {
			continue
		}
		if err != nil {
			m.Log.Warn("sample beancounters", "ctid", c.CTID, "err", err)
			continue
		}
		counters[c.CTID] = cs
	}
	now := time.Now().UTC()
	diskSamples := m.listStats(ctx, list, stopped, counters, now)
	if len(counters) == 0 {
		return 0, nil
	}
	rowsByCT, err := m.fold(ctx, counters)
	if err != nil {
		return 0, err
	}
	samples := make([]db.Sample, 0, len(counters)*8)
	m.mu.Lock()
	for ctid, rows := range rowsByCT {
		m.cache[ctid] = cached{at: time.Now(), rows: rows}
		for _, r := range rows {
			samples = append(samples, db.Sample{CTID: ctid, At: now, Resource: r.Resource, Held: r.Held,
				MaxHeld: r.MaxHeld, Barrier: r.Barrier, Limit: r.Limit, FailCnt: r.FailCnt})
		}
	}
	m.mu.Unlock()
	samples = append(samples, diskSamples...)
	if err := m.Store.InsertSamples(ctx, samples); err != nil {
		return len(rowsByCT), err
	}
	return len(rowsByCT), nil
}

// Run samples every Interval and downsamples every minute until ctx ends.
func (m *Monitor) Run(ctx context.Context) {
	tick := time.NewTicker(m.Settings.Interval)
	defer tick.Stop()
	lastDown := time.Time{}
	for {
		if _, err := m.SampleOnce(ctx); err != nil && ctx.Err() == nil {
			m.Log.Warn("sampler", "err", err)
		}
		if time.Since(lastDown) > time.Minute {
			lastDown = time.Now()
			now := time.Now()
			if _, err := m.Store.Downsample(ctx, now.Add(-m.Settings.RawRetention), m.Settings.Step, now.Add(-m.Settings.Retention)); err != nil && ctx.Err() == nil {
				m.Log.Warn("downsample", "err", err)
			}
			if _, err := m.Store.Rollup(ctx, int(m.Settings.Step/time.Second), now.Add(-m.Settings.StepRetention), m.Settings.CoarseStep); err != nil && ctx.Err() == nil {
				m.Log.Warn("downsample", "err", err)
			}
			if err := m.SampleHost(ctx, "/proc"); err != nil && ctx.Err() == nil {
				m.Log.Warn("host sample", "err", err)
			}
		}
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
	}
}

// listStats records what the container list shows of each container (its
// CPU, processes, memory and disk now), and corrects the run state the
// list filters on where liblxc says otherwise: a container started or
// stopped behind the panel's back shows as it is by the next sample.
//
// It answers the diskspace samples of the running containers on a disk of
// their own, for the disk chart.
func (m *Monitor) listStats(ctx context.Context, list []db.Container, stopped []db.Container, counters map[int][]lxcdriver.Counter, now time.Time) []db.Sample {
	readings := make([]db.StatsReading, 0, len(counters)+len(stopped))
	var diskSamples []db.Sample
	disk := func(r *db.StatsReading) {
		du, err := m.Drv.DiskUsage(ctx, strconv.Itoa(r.CTID))
		if err == nil && du.Loop {
			used, size := du.UsedBytes, du.SizeBytes
			r.DiskBytes, r.DiskLimitBytes = &used, &size
		}
	}
	for _, c := range stopped {
		r := db.StatsReading{CTID: c.CTID, At: now}
		disk(&r)
		readings = append(readings, r)
		if c.LastState != string(lxcdriver.StateStopped) {
			m.setState(ctx, c.CTID, lxcdriver.StateStopped)
		}
	}
	for _, c := range list {
		cs, ok := counters[c.CTID]
		if !ok {
			continue
		}
		r := db.StatsReading{CTID: c.CTID, At: now, Running: true}
		for _, k := range cs {
			switch k.Resource {
			case lxcdriver.ResCPU:
				r.CPUms = k.MaxHeld
			case lxcdriver.ResNumProc:
				r.NProc = k.Held
			case lxcdriver.ResPhysPages:
				r.MemBytes = k.Held * ubc.PageSize
				if k.Limit < lxcdriver.Unlimited/ubc.PageSize {
					lim := k.Limit * ubc.PageSize
					r.MemLimitBytes = &lim
				}
			}
		}
		disk(&r)
		readings = append(readings, r)
		if r.DiskBytes != nil {
			kb, size := *r.DiskBytes/1024, *r.DiskLimitBytes/1024
			diskSamples = append(diskSamples, db.Sample{CTID: c.CTID, At: now, Resource: "diskspace", Held: kb, MaxHeld: kb, Barrier: size, Limit: size})
		}
		if c.LastState == string(lxcdriver.StateStopped) {
			if st, err := m.Drv.State(ctx, strconv.Itoa(c.CTID)); err == nil && st != lxcdriver.StateStopped {
				m.setState(ctx, c.CTID, st)
			}
		}
	}
	if err := m.Store.UpsertContainerStats(ctx, readings); err != nil && ctx.Err() == nil {
		m.Log.Warn("container list figures", "err", err)
	}
	return diskSamples
}

func (m *Monitor) setState(ctx context.Context, ctid int, st lxcdriver.State) {
	if err := m.Store.SetContainerState(ctx, ctid, string(st)); err != nil && ctx.Err() == nil {
		m.Log.Warn("container state", "ctid", ctid, "err", err)
	}
}

// SampleHost records the host's CPU (its share of all CPUs since the
// last host sample, or over a quarter second the first time), load,
// memory and the disk holding the containers, for the overview's charts.
func (m *Monitor) SampleHost(ctx context.Context, proc string) error {
	busy, total, err := hoststat.CPUTimes(proc)
	if err != nil {
		return err
	}
	if m.cpuTotal == 0 || total <= m.cpuTotal {
		m.cpuBusy, m.cpuTotal = busy, total
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(250 * time.Millisecond):
		}
		if busy, total, err = hoststat.CPUTimes(proc); err != nil {
			return err
		}
	}
	pct := 0.0
	if total > m.cpuTotal {
		pct = 100 * float64(busy-min(busy, m.cpuBusy)) / float64(total-m.cpuTotal)
	}
	m.cpuBusy, m.cpuTotal = busy, total
	st, err := hoststat.Read(proc, lxcdriver.ContainersDir(m.Drv))
	if err != nil {
		return err
	}
	now := time.Now().UTC()
	return m.Store.InsertHostSample(ctx, db.HostSample{At: now.Truncate(time.Second), CPUPercent: pct, Load1: st.Load1,
		MemUsed: int64(st.MemUsed), MemTotal: int64(st.MemTotal), DiskUsed: int64(st.DiskUsed), DiskSize: int64(st.DiskSize)},
		now.Add(-m.Settings.Retention))
}
