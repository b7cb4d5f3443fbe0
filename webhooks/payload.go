package webhooks

import (
	"time"

	"github.com/ctpanel/ctpanel/monitor"
)

// Payload is the JSON body of every delivery (WebhookPayload in the API
// description): which event, when, and what happened. It is the contract
// with billing systems: fields are added, never renamed or removed.
type Payload struct {
	// Event is one of Events.
	Event string    `json:"event"`
	At    time.Time `json:"at"`
	Data  EventData `json:"data"`
}

// EventData is what happened: an operation that finished (Type
// "operation") or a failcnt alert (Type "alert").
type EventData struct {
	Type string    `json:"type"`
	CTID int       `json:"ctid"`
	At   time.Time `json:"at"`
	// Of an operation: its action, id and outcome, and the container's
	// state after it; Error says why it failed.
	Action    string `json:"action,omitempty"`
	Operation string `json:"operation,omitempty"`
	Status    string `json:"status,omitempty"`
	State     string `json:"state,omitempty"`
	Error     string `json:"error,omitempty"`
	// Of an alert: the beancounter whose failcnt grew, from and to.
	Resource   string  `json:"resource,omitempty"`
	OldFailcnt *uint64 `json:"old_failcnt,omitempty"`
	NewFailcnt *uint64 `json:"new_failcnt,omitempty"`
	AlertID    int64   `json:"alert_id,omitempty"`
	// Count is how many failcnt growths the alert took in when it
	// opened (above 1 when the plan's threshold held it back); its
	// repeats send nothing.
	Count int `json:"count,omitempty"`
}

// PayloadOf is the delivery body of event name for bus event e.
func PayloadOf(name string, e monitor.Event) Payload {
	return Payload{Event: name, At: e.At, Data: EventData{
		Type: e.Type, CTID: e.CTID, At: e.At, Action: e.Action, Operation: e.Operation, Status: e.Status,
		State: e.State, Error: e.Error, Resource: e.Resource, OldFailcnt: e.Old, NewFailcnt: e.New, AlertID: e.AlertID, Count: e.Count,
	}}
}
