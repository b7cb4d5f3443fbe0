package ops

import (
	"context"
	"strconv"

	"github.com/ctpanel/ctpanel/db"
	"github.com/ctpanel/ctpanel/lxcdriver"
)

// ActionClone is lxc-copy: a new container from a stopped one.
const ActionClone = "clone"

// Clone copies SourceCTID into the row's new container, in full or as an
// overlay snapshot.
type Clone struct {
	SourceCTID int  `json:"source_ctid,omitempty"`
	Snapshot   bool `json:"snapshot,omitempty"`
	Start      bool `json:"start,omitempty"`
}

func init() { register(ActionClone, func() Action { return &Clone{} }) }

// ActionName is "clone".
func (*Clone) ActionName() string { return ActionClone }

func (a *Clone) run(ctx context.Context, r *Runner, op db.Operation) error {
	return r.makeContainer(ctx, op, a.Start, credentials{}, func(c db.Container) error {
		return r.Drv.Clone(ctx, strconv.Itoa(a.SourceCTID), strconv.Itoa(c.CTID),
			lxcdriver.CloneOptions{Snapshot: a.Snapshot, Config: baseConfig(c), Disk: diskOf(c), IDMap: idmapOf(c)})
	})
}
