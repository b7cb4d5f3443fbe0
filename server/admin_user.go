package server

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"

	"golang.org/x/crypto/bcrypt"

	"github.com/ctpanel/ctpanel/db"
)

// FirstAdmin is the username of the admin made at first start.
const FirstAdmin = "admin"

// EnsureAdminUser makes sure someone can sign in to the web panel: when no
// admin has a password, user "admin" gets cfg.AdminPassword
// (CTPANEL_ADMIN_PASSWORD) or a random one. generated is that random
// password, returned once to be shown; it is stored only hashed.
func (a *App) EnsureAdminUser(ctx context.Context) (generated string, err error) {
	n, err := a.Store.CountAdminsWithPassword(ctx)
	if err != nil || n > 0 {
		return "", err
	}
	pw := a.Cfg.AdminPassword
	if pw == "" {
		b := make([]byte, 18)
		if _, err := rand.Read(b); err != nil {
			return "", fmt.Errorf("admin user: random: %w", err)
		}
		pw = base64.RawURLEncoding.EncodeToString(b)
		generated = pw
	} else if len(pw) < 8 || len(pw) > 72 {
		return "", errors.New("CTPANEL_ADMIN_PASSWORD must be 8 to 72 characters")
	}
	hash, err := bcrypt.GenerateFromPassword([]byte(pw), bcrypt.DefaultCost)
	if err != nil {
		return "", fmt.Errorf("admin user: hash: %w", err)
	}
	acc, _, err := a.Store.AccountForLogin(ctx, FirstAdmin)
	switch {
	case errors.Is(err, db.ErrNotFound):
		_, err = a.Store.CreateAccount(ctx, db.Account{Username: FirstAdmin, Role: db.RoleAdmin, Name: "first admin"}, string(hash))
	case err != nil:
	case acc.Role != db.RoleAdmin:
		err = fmt.Errorf("admin user: user %q exists as %s; give an admin a password with the API, or rename it", FirstAdmin, acc.Role)
	default: // an "admin" made by `ctpanel token create --user admin` without a password
		err = a.Store.SetPassword(ctx, acc.ID, string(hash))
	}
	if err != nil {
		return "", err
	}
	if err := a.Store.Audit(ctx, db.AuditEntry{Actor: "ctpanel", ActorRole: "system", Action: "user.create",
		Details: map[string]any{"user": FirstAdmin, "role": db.RoleAdmin, "first_start": true}}); err != nil {
		a.Log.Warn("audit first admin", "err", err)
	}
	return generated, nil
}
