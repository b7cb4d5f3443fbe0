// Package policy is the one place for who may do what, and for the rules
// every name, password and key must follow, whichever front end it came
// through.
package policy

import (
	"regexp"

	"github.com/ctpanel/ctpanel/db"
	"github.com/ctpanel/ctpanel/domain"
)

// RequireStaff refuses customers: the action runs the farm, not one VPS.
func RequireStaff(p db.Principal) error {
	if !p.IsStaff() {
		return domain.Forbidden("this needs a staff, admin or billing token")
	}
	return nil
}

// RequireOperator refuses customers and billing tokens: working on the
// farm's containers by hand (a shell or exec as root in any VPS, limits,
// templates, freeze, clone, destroy, alert acknowledgement) is the hosting
// staff's. A billing system has its own verbs: customers, plans, create,
// suspend, unsuspend, terminate, change plan, reinstall, passwords,
// usage, webhooks and reading containers.
func RequireOperator(p db.Principal) error {
	if p.Role != db.RoleAdmin && p.Role != db.RoleStaff {
		return domain.Forbidden("this needs a staff or admin token (billing tokens have the billing verbs only)")
	}
	return nil
}

// MayUseRoot: exec, shells and consoles run as root in a container: its
// customer, and the hosting staff, but not a billing token.
func MayUseRoot(p db.Principal) bool { return p.Role != db.RoleBilling }

// RequireAdmin refuses all but admins: staff users and API tokens.
func RequireAdmin(p db.Principal) error {
	if p.Role != db.RoleAdmin {
		return domain.Forbidden("this needs an admin token")
	}
	return nil
}

// OwnerScope is the owner filter for listing containers: nil for staff,
// who see the whole farm.
func OwnerScope(p db.Principal) *int64 {
	if p.ScopeOwner != nil {
		return p.ScopeOwner
	}
	if p.IsStaff() {
		return nil
	}
	if p.UserID == nil {
		none := int64(-1)
		return &none
	}
	return p.UserID
}

// CanSee: staff see every container, a customer only those they own.
func CanSee(p db.Principal, c db.Container) bool {
	if p.ScopeOwner != nil {
		return c.OwnerID != nil && *c.OwnerID == *p.ScopeOwner
	}
	if p.IsStaff() {
		return true
	}
	return p.UserID != nil && c.OwnerID != nil && *p.UserID == *c.OwnerID
}

// MayStartSuspended: a suspended container is started, restarted,
// unfrozen or reinstalled only by staff (billing unsuspends it).
func MayStartSuspended(p db.Principal) bool { return p.IsStaff() }

// MayFreeze: freezing and thawing are for the hosting staff; customers
// (and billing systems) stop and start.
func MayFreeze(p db.Principal) bool { return RequireOperator(p) == nil }

// MayChangeIdentity: a container's name, onboot, plan and description
// (staff's notes) are staff's; customers set the hostname and nameservers.
func MayChangeIdentity(p db.Principal) bool { return p.IsStaff() }

// hostPath is an absolute path of two or more parts: a host's file, which
// says nothing a customer needs and something about the host.
var hostPath = regexp.MustCompile(`(/[A-Za-z0-9._@+-]+){2,}/?`)

// ErrorFor is an operation's error as p may read it: as it stands for
// staff; without host paths for a customer.
func ErrorFor(p db.Principal, msg string) string {
	if p.IsStaff() || msg == "" {
		return msg
	}
	return hostPath.ReplaceAllString(msg, "…")
}
