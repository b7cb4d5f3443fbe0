// Package webhooks is the domain of webhook endpoints: where billing
// systems hear what happened (the payload is webhooks.Payload in the
// top-level webhooks package, which delivers them).
package webhooks

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"log/slog"
	"net/url"
	"slices"
	"strconv"

	"github.com/ctpanel/ctpanel/db"
	"github.com/ctpanel/ctpanel/domain"
	"github.com/ctpanel/ctpanel/domain/policy"
	hooks "github.com/ctpanel/ctpanel/webhooks"
)

// Service is the webhooks domain.
type Service struct {
	Store *db.Store
	Log   *slog.Logger
	// Guard refuses URLs on the panel's host and internal networks.
	Guard hooks.Guard
}

// NewWebhook is an endpoint to register; without a secret one is made.
type NewWebhook struct {
	URL    string
	Events []string
	Secret string
}

// Create registers an endpoint (staff); the secret is returned once.
func (s *Service) Create(ctx context.Context, p db.Principal, in NewWebhook) (db.Webhook, string, error) {
	if err := policy.RequireStaff(p); err != nil {
		return db.Webhook{}, "", err
	}
	f := domain.FieldErrors{}
	if u, err := url.Parse(in.URL); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || len(in.URL) > 2048 {
		f.Add("url", "must be an absolute http or https URL")
	}
	if len(f) == 0 {
		if err := s.Guard.CheckURL(ctx, in.URL); err != nil {
			f.Add("url", "must not point at the panel's host or an internal network (loopback, link-local, private): "+
				"allow a network with CTPANEL_WEBHOOK_ALLOWED_NETWORKS")
		}
	}
	if len(in.Events) == 0 {
		f.Add("events", "list at least one of the events")
	}
	for _, e := range in.Events {
		if !slices.Contains(hooks.Events, e) {
			f.Add("events", "unknown event "+strconv.Quote(e))
		}
	}
	if in.Secret != "" && (len(in.Secret) < 16 || len(in.Secret) > 256) {
		f.Add("secret", "must be 16 to 256 characters")
	}
	if err := f.Err(); err != nil {
		return db.Webhook{}, "", err
	}
	if in.Secret == "" {
		b := make([]byte, 24)
		_, _ = rand.Read(b)
		in.Secret = hex.EncodeToString(b)
	}
	h, err := s.Store.CreateWebhook(ctx, in.URL, in.Secret, in.Events, p.Actor())
	if err != nil {
		return h, "", err
	}
	domain.AuditOutside(ctx, s.Store, s.Log, p, "webhook.create", map[string]any{"webhook": h.ID, "url": h.URL})
	return h, in.Secret, nil
}

// List is every endpoint (staff).
func (s *Service) List(ctx context.Context, p db.Principal) ([]db.Webhook, error) {
	if err := policy.RequireStaff(p); err != nil {
		return nil, err
	}
	return s.Store.ListWebhooks(ctx, "")
}

// Get finds endpoint id (staff).
func (s *Service) Get(ctx context.Context, p db.Principal, id string) (db.Webhook, error) {
	if err := policy.RequireStaff(p); err != nil {
		return db.Webhook{}, err
	}
	n, err := domain.ParseID("webhook", id)
	if err != nil {
		return db.Webhook{}, err
	}
	h, err := s.Store.GetWebhook(ctx, n)
	if errors.Is(err, db.ErrNotFound) {
		err = domain.NotFound("webhook %d does not exist", n)
	}
	return h, err
}

// Delete removes endpoint id (staff).
func (s *Service) Delete(ctx context.Context, p db.Principal, id string) error {
	h, err := s.Get(ctx, p, id)
	if err != nil {
		return err
	}
	if err := s.Store.DeleteWebhook(ctx, h.ID); err != nil {
		return err
	}
	domain.AuditOutside(ctx, s.Store, s.Log, p, "webhook.delete", map[string]any{"webhook": h.ID})
	return nil
}

// Deliveries lists endpoint id's latest deliveries with their attempts.
func (s *Service) Deliveries(ctx context.Context, p db.Principal, id string, limit int) ([]db.Delivery, error) {
	h, err := s.Get(ctx, p, id)
	if err != nil {
		return nil, err
	}
	return s.Store.ListDeliveries(ctx, h.ID, limit)
}
