package pages

import (
	"net/http"
	"net/url"
	"strconv"
	"strings"

	"github.com/go-chi/chi/v5"

	"github.com/ctpanel/ctpanel/domain"
	"github.com/ctpanel/ctpanel/domain/containers"
	"github.com/ctpanel/ctpanel/ubc"
)

// backupRow is a backup as the container page lists it.
type backupRow struct {
	containers.BackupView
	Size, Stored string
}

// backupData is what the container page's backups section shows.
func (u *UI) backupData(r *http.Request, ctid int) (view, error) {
	ctx, p := r.Context(), principal(r)
	ref := strconv.Itoa(ctid)
	list, err := u.Containers.Backups(ctx, p, ref)
	if err != nil {
		return nil, err
	}
	rows := make([]backupRow, 0, len(list))
	for _, b := range list {
		row := backupRow{BackupView: b}
		if b.SizeBytes != nil {
			row.Size = ubc.FormatBytes(uint64(*b.SizeBytes))
		}
		if b.StoredBytes != nil {
			row.Stored = ubc.FormatBytes(uint64(*b.StoredBytes))
		}
		rows = append(rows, row)
	}
	snaps, err := u.Containers.Snapshots(ctx, p, ref)
	if err != nil {
		return nil, err
	}
	v := view{"Backups": rows, "Snapshots": snaps, "BackupErrors": FieldErrors{}, "ScheduleErrors": FieldErrors{}}
	sch, err := u.Containers.Schedule(ctx, p, ref)
	if err == nil {
		v["Schedule"] = sch
	} else if ae := domain.AsError(err); ae == nil || ae.Status != http.StatusNotFound {
		return nil, err
	}
	// Target names: staff read the list; a customer picks by name.
	if p.IsStaff() {
		targets, err := u.Containers.Targets(ctx, p)
		if err != nil {
			return nil, err
		}
		v["Targets"] = targets
	}
	return v, nil
}

// backupRefused shows the container page again with a backup form's
// refusal in its section.
func (u *UI) backupRefused(w http.ResponseWriter, r *http.Request, err error, form map[string]string) {
	fields, msg, status, ok := u.formRefusal(w, r, err)
	if !ok {
		return
	}
	u.showContainer(w, r, status, view{"BackupErrors": fields, "BackupError": msg, "BackupForm": form})
}

// CreateBackup is POST /containers/{ref}/backups (field target).
func (u *UI) CreateBackup(w http.ResponseWriter, r *http.Request) {
	target := strings.TrimSpace(r.PostFormValue("target"))
	_, op, err := u.Containers.CreateBackup(r.Context(), principal(r), ref(r), target)
	if err != nil {
		u.backupRefused(w, r, err, map[string]string{"target": target})
		return
	}
	containerOpRedirect(w, r, op, "?done=backup#backups")
}

// BackupAction is POST /containers/{ref}/backups/{id}/{action}: restore
// (in place), delete, protect or unprotect.
func (u *UI) BackupAction(w http.ResponseWriter, r *http.Request) {
	ctx, p, id := r.Context(), principal(r), chi.URLParam(r, "id")
	// The backup must be this container's: one of another is a 404 here.
	list, err := u.Containers.Backups(ctx, p, ref(r))
	if err != nil {
		u.pageError(w, r, err)
		return
	}
	found := false
	for _, b := range list {
		found = found || b.ID == id
	}
	if !found {
		u.NotFound(w, r)
		return
	}
	back := "/containers/" + url.PathEscape(ref(r))
	switch chi.URLParam(r, "action") {
	case "restore":
		op, err := u.Containers.RestoreBackup(ctx, p, id, nil)
		if err != nil {
			u.backupRefused(w, r, err, nil)
			return
		}
		containerOpRedirect(w, r, op, "?done=restore#backups")
		return
	case "delete":
		err = u.Containers.DeleteBackup(ctx, p, id)
	case "protect", "unprotect":
		_, err = u.Containers.ProtectBackup(ctx, p, id, chi.URLParam(r, "action") == "protect")
	default:
		u.NotFound(w, r)
		return
	}
	if err != nil {
		u.backupRefused(w, r, err, nil)
		return
	}
	http.Redirect(w, r, back+"?done=backups#backups", http.StatusSeeOther)
}

// SetBackupSchedule is POST /containers/{ref}/backup-schedule (target,
// time; "remove" stops it).
func (u *UI) SetBackupSchedule(w http.ResponseWriter, r *http.Request) {
	ctx, p := r.Context(), principal(r)
	back := "/containers/" + url.PathEscape(ref(r)) + "?done=schedule#backups"
	if r.PostFormValue("remove") != "" {
		if _, err := u.Containers.Get(ctx, p, ref(r)); err != nil {
			u.pageError(w, r, err)
			return
		}
		// Removing a schedule that is gone already is done.
		if err := u.Containers.DeleteSchedule(ctx, p, ref(r)); err != nil {
			if ae := domain.AsError(err); ae == nil || ae.Status != http.StatusNotFound {
				u.backupRefused(w, r, err, nil)
				return
			}
		}
		http.Redirect(w, r, back, http.StatusSeeOther)
		return
	}
	form := map[string]string{"target": strings.TrimSpace(r.PostFormValue("target")), "time": strings.TrimSpace(r.PostFormValue("time"))}
	if _, err := u.Containers.SetSchedule(ctx, p, ref(r), containers.ScheduleInput{Target: form["target"], Time: form["time"]}); err != nil {
		// The schedule form's own keys: its target is not the backup
		// form's, whose field would otherwise show the reason.
		fields, msg, status, ok := u.formRefusal(w, r, err)
		if !ok {
			return
		}
		u.showContainer(w, r, status, view{"ScheduleErrors": fields, "BackupError": msg, "ScheduleForm": form})
		return
	}
	http.Redirect(w, r, back, http.StatusSeeOther)
}

// BackupTargetsPage is GET /backups (staff): the backup targets and a
// form for a new one.
func (u *UI) BackupTargetsPage(w http.ResponseWriter, r *http.Request) {
	u.targetsPage(w, r, http.StatusOK, view{})
}

func (u *UI) targetsPage(w http.ResponseWriter, r *http.Request, status int, v view) {
	list, err := u.Containers.Targets(r.Context(), principal(r))
	if err != nil {
		u.pageError(w, r, err)
		return
	}
	if _, ok := v["TargetErrors"]; !ok {
		v["TargetErrors"] = FieldErrors{}
	}
	v["Targets"], v["Done"] = list, r.URL.Query().Get("done")
	u.render(w, r, status, "backups", v)
}

// CreateBackupTarget is POST /backups/targets.
func (u *UI) CreateBackupTarget(w http.ResponseWriter, r *http.Request) {
	form := map[string]string{"name": strings.TrimSpace(r.PostFormValue("name")), "path": strings.TrimSpace(r.PostFormValue("path"))}
	if _, err := u.Containers.CreateTarget(r.Context(), principal(r), containers.TargetInput{Name: form["name"], Kind: "dir", Path: form["path"]}); err != nil {
		fields, msg, status, ok := u.formRefusal(w, r, err)
		if !ok {
			return
		}
		u.targetsPage(w, r, status, view{"TargetForm": form, "TargetErrors": fields, "TargetError": msg})
		return
	}
	http.Redirect(w, r, "/backups?done=created", http.StatusSeeOther)
}

// DeleteBackupTarget is POST /backups/targets/{name}/delete.
func (u *UI) DeleteBackupTarget(w http.ResponseWriter, r *http.Request) {
	if err := u.Containers.DeleteTarget(r.Context(), principal(r), chi.URLParam(r, "name")); err != nil {
		_, msg, status, ok := u.formRefusal(w, r, err)
		if !ok {
			return
		}
		u.targetsPage(w, r, status, view{"Message": msg})
		return
	}
	http.Redirect(w, r, "/backups?done=deleted", http.StatusSeeOther)
}

// TakeSnapshot is POST /containers/{ref}/snapshots (field name).
func (u *UI) TakeSnapshot(w http.ResponseWriter, r *http.Request) {
	name := strings.TrimSpace(r.PostFormValue("name"))
	_, op, err := u.Containers.TakeSnapshot(r.Context(), principal(r), ref(r), name)
	if err != nil {
		u.backupRefused(w, r, err, map[string]string{"snapshot": name})
		return
	}
	containerOpRedirect(w, r, op, "?done=snapshot#backups")
}

// SnapshotAction is POST /containers/{ref}/snapshots/{name}/{action}:
// rollback or delete.
func (u *UI) SnapshotAction(w http.ResponseWriter, r *http.Request) {
	ctx, p, name := r.Context(), principal(r), chi.URLParam(r, "name")
	switch chi.URLParam(r, "action") {
	case "rollback":
		op, err := u.Containers.RollbackSnapshot(ctx, p, ref(r), name)
		if err != nil {
			u.backupRefused(w, r, err, nil)
			return
		}
		containerOpRedirect(w, r, op, "?done=restore#backups")
	case "delete":
		if err := u.Containers.DeleteSnapshot(ctx, p, ref(r), name); err != nil {
			u.backupRefused(w, r, err, nil)
			return
		}
		http.Redirect(w, r, "/containers/"+url.PathEscape(ref(r))+"?done=backups#backups", http.StatusSeeOther)
	default:
		u.NotFound(w, r)
	}
}
