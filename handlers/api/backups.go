package api

import (
	"net/http"

	"github.com/ctpanel/ctpanel/domain"

	"github.com/ctpanel/ctpanel/domain/containers"
)

// ListBackupTargets is GET /api/v1/backup-targets (staff).
func (a *API) ListBackupTargets(w http.ResponseWriter, r *http.Request) {
	list, err := a.Containers.Targets(r.Context(), principal(r))
	if err != nil {
		a.smartError(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"backup_targets": list})
}

// CreateBackupTarget is POST /api/v1/backup-targets {"name", "kind": "dir",
// "path"} (staff).
func (a *API) CreateBackupTarget(w http.ResponseWriter, r *http.Request) {
	var req struct {
		Name       string `json:"name"`
		Kind       string `json:"kind"`
		Path       string `json:"path"`
		Host       string `json:"host"`
		Port       int    `json:"port"`
		User       string `json:"user"`
		PrivateKey string `json:"private_key"`
		HostKey    string `json:"host_key"`
	}
	if err := decodeJSON(w, r, &req, false); err != nil {
		a.smartError(w, r, err)
		return
	}
	v, err := a.Containers.CreateTarget(r.Context(), principal(r), containers.TargetInput{Name: req.Name, Kind: req.Kind, Path: req.Path,
		Host: req.Host, Port: req.Port, User: req.User, PrivateKey: req.PrivateKey, HostKey: req.HostKey})
	if err != nil {
		a.smartError(w, r, err)
		return
	}
	w.Header().Set("Location", "/api/v1/backup-targets/"+v.Name)
	writeJSON(w, http.StatusCreated, v)
}

// DeleteBackupTarget is DELETE /api/v1/backup-targets/{name} (staff).
func (a *API) DeleteBackupTarget(w http.ResponseWriter, r *http.Request) {
	a.noContent(w, r, a.Containers.DeleteTarget(r.Context(), principal(r), urlParam(r, "name")))
}

// CreateBackup is POST /api/v1/containers/{ref}/backups {"target"}: 202
// with the backup and its operation.
func (a *API) CreateBackup(w http.ResponseWriter, r *http.Request) {
	var req struct {
		Target string `json:"target"`
	}
	if err := decodeJSON(w, r, &req, false); err != nil {
		a.smartError(w, r, err)
		return
	}
	v, op, err := a.Containers.CreateBackup(r.Context(), principal(r), ref(r), req.Target)
	if err != nil {
		a.smartError(w, r, err)
		return
	}
	w.Header().Set("Location", "/api/v1/operations/"+op.ID)
	writeJSON(w, http.StatusAccepted, map[string]any{"backup": v, "operation": opView(op)})
}

// ContainerBackups is GET /api/v1/containers/{ref}/backups.
func (a *API) ContainerBackups(w http.ResponseWriter, r *http.Request) {
	list, err := a.Containers.Backups(r.Context(), principal(r), ref(r))
	if err != nil {
		a.smartError(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"backups": list})
}

// GetBackup is GET /api/v1/backups/{id}.
func (a *API) GetBackup(w http.ResponseWriter, r *http.Request) {
	v, err := a.Containers.GetBackup(r.Context(), principal(r), urlParam(r, "id"))
	if err != nil {
		a.smartError(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, v)
}

// DeleteBackup is DELETE /api/v1/backups/{id}.
func (a *API) DeleteBackup(w http.ResponseWriter, r *http.Request) {
	a.noContent(w, r, a.Containers.DeleteBackup(r.Context(), principal(r), urlParam(r, "id")))
}

// RestoreBackup is POST /api/v1/backups/{id}/restore {} (in place): 202
// with the restore operation.
func (a *API) RestoreBackup(w http.ResponseWriter, r *http.Request) {
	var req struct {
		CTID *int `json:"ctid"`
	}
	if err := decodeJSON(w, r, &req, true); err != nil {
		a.smartError(w, r, err)
		return
	}
	op, err := a.Containers.RestoreBackup(r.Context(), principal(r), urlParam(r, "id"), req.CTID)
	a.answerOp(w, r, op, err)
}

// PatchBackup is PATCH /api/v1/backups/{id} {"protected": bool}.
func (a *API) PatchBackup(w http.ResponseWriter, r *http.Request) {
	var req struct {
		Protected *bool `json:"protected"`
	}
	if err := decodeJSON(w, r, &req, false); err != nil {
		a.smartError(w, r, err)
		return
	}
	if req.Protected == nil {
		f := domain.FieldErrors{}
		f.Add("protected", "is required: true or false")
		a.smartError(w, r, f.Err())
		return
	}
	v, err := a.Containers.ProtectBackup(r.Context(), principal(r), urlParam(r, "id"), *req.Protected)
	if err != nil {
		a.smartError(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, v)
}

// GetBackupSchedule is GET /api/v1/containers/{ref}/backup-schedule.
func (a *API) GetBackupSchedule(w http.ResponseWriter, r *http.Request) {
	v, err := a.Containers.Schedule(r.Context(), principal(r), ref(r))
	if err != nil {
		a.smartError(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, v)
}

// PutBackupSchedule is PUT /api/v1/containers/{ref}/backup-schedule
// {"target", "time": "HH:MM" | "auto"}.
func (a *API) PutBackupSchedule(w http.ResponseWriter, r *http.Request) {
	var req struct {
		Target string `json:"target"`
		Time   string `json:"time"`
	}
	if err := decodeJSON(w, r, &req, false); err != nil {
		a.smartError(w, r, err)
		return
	}
	v, err := a.Containers.SetSchedule(r.Context(), principal(r), ref(r), containers.ScheduleInput{Target: req.Target, Time: req.Time})
	if err != nil {
		a.smartError(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, v)
}

// DeleteBackupSchedule is DELETE /api/v1/containers/{ref}/backup-schedule.
func (a *API) DeleteBackupSchedule(w http.ResponseWriter, r *http.Request) {
	a.noContent(w, r, a.Containers.DeleteSchedule(r.Context(), principal(r), ref(r)))
}

// ContainerSnapshots is GET /api/v1/containers/{ref}/snapshots.
func (a *API) ContainerSnapshots(w http.ResponseWriter, r *http.Request) {
	list, err := a.Containers.Snapshots(r.Context(), principal(r), ref(r))
	if err != nil {
		a.smartError(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"snapshots": list})
}

// TakeSnapshot is POST /api/v1/containers/{ref}/snapshots {"name"}: 202
// with the snapshot and its operation.
func (a *API) TakeSnapshot(w http.ResponseWriter, r *http.Request) {
	var req struct {
		Name string `json:"name"`
	}
	if err := decodeJSON(w, r, &req, false); err != nil {
		a.smartError(w, r, err)
		return
	}
	v, op, err := a.Containers.TakeSnapshot(r.Context(), principal(r), ref(r), req.Name)
	if err != nil {
		a.smartError(w, r, err)
		return
	}
	w.Header().Set("Location", "/api/v1/operations/"+op.ID)
	writeJSON(w, http.StatusAccepted, map[string]any{"snapshot": v, "operation": opView(op)})
}

// RollbackSnapshot is POST /api/v1/containers/{ref}/snapshots/{name}/rollback.
func (a *API) RollbackSnapshot(w http.ResponseWriter, r *http.Request) {
	if err := decodeJSON(w, r, &struct{}{}, true); err != nil {
		a.smartError(w, r, err)
		return
	}
	op, err := a.Containers.RollbackSnapshot(r.Context(), principal(r), ref(r), urlParam(r, "name"))
	a.answerOp(w, r, op, err)
}

// DeleteSnapshot is DELETE /api/v1/containers/{ref}/snapshots/{name}.
func (a *API) DeleteSnapshot(w http.ResponseWriter, r *http.Request) {
	a.noContent(w, r, a.Containers.DeleteSnapshot(r.Context(), principal(r), ref(r), urlParam(r, "name")))
}
