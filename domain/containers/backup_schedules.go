package containers

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/ctpanel/ctpanel/backup"

	"github.com/jackc/pgx/v5"

	"github.com/ctpanel/ctpanel/db"
	"github.com/ctpanel/ctpanel/domain"
)

// Backup schedules: a container is backed up daily at a time of the
// host's day, to a target. Left to the panel ("auto"), the time is spread
// over the night (01:00 to 05:00, by CTID) so that not all start at once.
// A run a stopped panel missed is made once when it is back, then the
// schedule moves on to the next day. At most a few backups run at once per
// host (ops.SetBackupConcurrency).

// ScheduleView is a container's schedule.
type ScheduleView struct {
	CTID       int        `json:"ctid"`
	Target     string     `json:"target"`
	Time       string     `json:"time"`
	NextRunAt  time.Time  `json:"next_run_at"`
	LastRunAt  *time.Time `json:"last_run_at"`
	LastBackup *string    `json:"last_backup"`
}

func scheduleView(s db.BackupSchedule) ScheduleView {
	return ScheduleView{CTID: s.CTID, Target: s.TargetName, Time: fmt.Sprintf("%02d:%02d", s.MinuteOfDay/60, s.MinuteOfDay%60),
		NextRunAt: s.NextRunAt, LastRunAt: s.LastRunAt, LastBackup: s.LastBackup}
}

// AutoMinute is the minute of the night a container's "auto" schedule
// runs at: spread over 01:00 to 05:00 by CTID.
func AutoMinute(ctid int) int { return 60 + (ctid*37)%240 }

// NextRun is the first minuteOfDay of the host's day (loc) after t.
func NextRun(minuteOfDay int, t time.Time, loc *time.Location) time.Time {
	lt := t.In(loc)
	day := time.Date(lt.Year(), lt.Month(), lt.Day(), 0, 0, 0, 0, loc)
	next := day.Add(time.Duration(minuteOfDay) * time.Minute)
	for !next.After(t) {
		day = day.AddDate(0, 0, 1)
		next = time.Date(day.Year(), day.Month(), day.Day(), minuteOfDay/60, minuteOfDay%60, 0, 0, loc)
	}
	return next
}

// ScheduleInput is a schedule as given: Time "HH:MM" or "auto" ("").
type ScheduleInput struct {
	Target, Time string
}

// SetSchedule backs the container ref up daily (its customer, or staff).
func (s *Service) SetSchedule(ctx context.Context, p db.Principal, ref string, in ScheduleInput) (ScheduleView, error) {
	c, err := s.Get(ctx, p, ref)
	if err != nil {
		return ScheduleView{}, err
	}
	f := domain.FieldErrors{}
	t, err := s.Store.GetTarget(ctx, in.Target)
	if err == nil && t.Name == SnapshotTarget {
		err = db.ErrNotFound
	}
	if errors.Is(err, db.ErrNotFound) {
		f.Add("target", fmt.Sprintf("no backup target %q", in.Target))
	} else if err != nil {
		return ScheduleView{}, err
	}
	minute := AutoMinute(c.CTID)
	if in.Time != "" && in.Time != "auto" {
		hm, perr := time.Parse("15:04", in.Time)
		if perr != nil || len(in.Time) != 5 {
			f.Add("time", `must be "HH:MM" (the host's time) or "auto"`)
		} else {
			minute = hm.Hour()*60 + hm.Minute()
		}
	}
	if err := f.Err(); err != nil {
		return ScheduleView{}, err
	}
	sch := db.BackupSchedule{CTID: c.CTID, TargetID: t.ID, MinuteOfDay: minute, NextRunAt: NextRun(minute, time.Now(), time.Local)}
	if err := s.Store.PutSchedule(ctx, sch); err != nil {
		return ScheduleView{}, err
	}
	s.audit(ctx, p, "backup_schedule.set", map[string]any{"ctid": c.CTID, "target": in.Target, "minute_of_day": minute})
	got, err := s.Store.GetSchedule(ctx, c.CTID)
	return scheduleView(got), err
}

// Schedule is the container ref's schedule.
func (s *Service) Schedule(ctx context.Context, p db.Principal, ref string) (ScheduleView, error) {
	c, err := s.Get(ctx, p, ref)
	if err != nil {
		return ScheduleView{}, err
	}
	sch, err := s.Store.GetSchedule(ctx, c.CTID)
	if errors.Is(err, db.ErrNotFound) {
		return ScheduleView{}, domain.NotFound("container %d has no backup schedule", c.CTID)
	}
	return scheduleView(sch), err
}

// DeleteSchedule stops the container ref's scheduled backups.
func (s *Service) DeleteSchedule(ctx context.Context, p db.Principal, ref string) error {
	c, err := s.Get(ctx, p, ref)
	if err != nil {
		return err
	}
	ok, err := s.Store.DeleteSchedule(ctx, c.CTID)
	if err != nil {
		return err
	}
	if !ok {
		return domain.NotFound("container %d has no backup schedule", c.CTID)
	}
	s.audit(ctx, p, "backup_schedule.delete", map[string]any{"ctid": c.CTID})
	return nil
}

// scheduler is who scheduled backups are made by.
var scheduler = db.Principal{Role: db.RoleAdmin, TokenName: "backup scheduler"}

// RunDueSchedules makes the backups due at now (up to limit), moving each
// schedule on to its next day first, so that two panels never make one
// twice; a backup refused (a full plan, a busy container) is logged and
// tried again the next day. It returns how many were started.
func (s *Service) RunDueSchedules(ctx context.Context, now time.Time, limit int) (int, error) {
	if err := s.planSchedules(ctx, now); err != nil {
		return 0, err
	}
	var due []db.BackupSchedule
	err := s.Store.InTx(ctx, func(_ pgx.Tx, q *db.Queries) error {
		var err error
		if due, err = q.DueSchedules(ctx, now, limit); err != nil {
			return err
		}
		for _, d := range due {
			if err := q.ScheduleRan(ctx, d.CTID, now, NextRun(d.MinuteOfDay, now, time.Local), d.LastBackup); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return 0, err
	}
	started := 0
	for _, d := range due {
		b, _, err := s.CreateBackup(ctx, scheduler, strconv.Itoa(d.CTID), d.TargetName)
		if err != nil {
			s.Log.Warn("scheduled backup refused", "ctid", d.CTID, "target", d.TargetName, "err", err)
			continue
		}
		started++
		if err := s.Store.ScheduleRan(ctx, d.CTID, now, NextRun(d.MinuteOfDay, now, time.Local), &b.ID); err != nil {
			return started, err
		}
	}
	return started, nil
}

// planSchedules gives each container whose plan sets a daily backup, and
// that has no schedule of its own, the plan's (its first run the next
// time that comes: a container joining a plan is not backed up at once).
func (s *Service) planSchedules(ctx context.Context, now time.Time) error {
	todo, err := s.Store.UnscheduledOnPlans(ctx)
	if err != nil {
		return err
	}
	for ctid, raw := range todo {
		var pol backup.Policy
		if err := json.Unmarshal(raw, &pol); err != nil {
			continue
		}
		t, err := s.Store.GetTarget(ctx, pol.Schedule.Target)
		if err != nil || t.Name == SnapshotTarget {
			s.Log.Warn("a plan's backup schedule names no backup target", "ctid", ctid, "target", pol.Schedule.Target)
			continue
		}
		minute := AutoMinute(ctid)
		if hm, err := time.Parse("15:04", pol.Schedule.Time); err == nil {
			minute = hm.Hour()*60 + hm.Minute()
		}
		if err := s.Store.PutSchedule(ctx, db.BackupSchedule{CTID: ctid, TargetID: t.ID, MinuteOfDay: minute, NextRunAt: NextRun(minute, now, time.Local)}); err != nil {
			return err
		}
	}
	return nil
}
