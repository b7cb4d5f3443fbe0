package ops

import (
	"context"
	"encoding/json"
	"fmt"

	"github.com/ctpanel/ctpanel/db"
	"github.com/ctpanel/ctpanel/lxcdriver"
)

// Action is the typed parameters of one kind of operation. Each action has
// a file of its own (action_start.go, action_create.go, ...) defining its
// type, stored as the operation's params (JSON), and how it runs.
type Action interface {
	// ActionName is the operation's action ("start", "create", ...).
	ActionName() string
	// run carries the operation out; it must be safe to run again after a
	// crash cut it short.
	run(ctx context.Context, r *Runner, op db.Operation) error
}

// settles is implemented by actions whose success leaves the container in
// a known state (start: running), so the runner records it without asking
// liblxc again; after a failure, or for other actions, it asks.
type settles interface {
	settledState() lxcdriver.State
}

// actions maps an action name to a new value of its type, to decode an
// operation's params into.
var actions = map[string]func() Action{}

func register(name string, zero func() Action) {
	if _, dup := actions[name]; dup {
		panic("ops: action registered twice: " + name)
	}
	actions[name] = zero
}

// decodeAction reads an operation's params into its action's type.
func decodeAction(op db.Operation) (Action, error) {
	zero, ok := actions[op.Action]
	if !ok {
		return nil, fmt.Errorf("unknown action %q", op.Action)
	}
	a := zero()
	if len(op.Params) == 0 || string(op.Params) == "null" {
		return a, nil
	}
	if err := json.Unmarshal(op.Params, a); err != nil {
		return nil, fmt.Errorf("ops: params of %s (%s): %w", op.ID, op.Action, err)
	}
	return a, nil
}
