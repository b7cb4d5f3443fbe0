package server

import (
	"net/http"
	"time"

	"github.com/go-chi/chi/v5"
	"github.com/go-chi/chi/v5/middleware"

	"github.com/ctpanel/ctpanel/handlers"
	"github.com/ctpanel/ctpanel/ops"
)

// Router declares every route of ctpanel in one place.
func Router(api *handlers.API) chi.Router {
	r := chi.NewRouter()
	r.Use(middleware.RequestID, requestLogger(api), middleware.Recoverer)
	r.NotFound(api.NotFound)
	r.MethodNotAllowed(api.MethodNotAllowed)

	r.Get("/healthz", api.Healthz)
	r.Get("/api/v1/openapi.json", api.OpenAPI)
	r.With(api.Authenticate, api.RequireStaff).Get("/metrics", api.Metrics)

	r.Route("/api/v1", func(r chi.Router) {
		r.Use(api.Authenticate, api.AuditCalls, api.Idempotency)
		r.Get("/templates", api.ListTemplates)
		r.With(api.RequireAdmin).Post("/tokens", api.CreateToken)
		r.With(api.RequireAdmin).Get("/tokens", api.ListTokens)
		r.With(api.RequireAdmin).Delete("/tokens/{id}", api.RevokeToken)
		r.With(api.RequireStaff).Post("/customers", api.CreateCustomer)
		r.With(api.RequireStaff).Get("/customers", api.ListCustomers)
		r.With(api.RequireStaff).Get("/customers/{id}", api.GetCustomer)
		r.With(api.RequireStaff).Patch("/customers/{id}", api.PatchCustomer)
		r.With(api.RequireStaff).Delete("/customers/{id}", api.DeleteCustomer)
		r.With(api.RequireStaff).Post("/webhooks", api.CreateWebhook)
		r.With(api.RequireStaff).Get("/webhooks", api.ListWebhooks)
		r.With(api.RequireStaff).Delete("/webhooks/{id}", api.DeleteWebhook)
		r.With(api.RequireStaff).Get("/webhooks/{id}/deliveries", api.ListDeliveries)
		r.Get("/usage", api.AllUsage)
		r.Get("/plans", api.ListPlans)
		r.Get("/plans/{name}", api.GetPlan)
		r.With(api.RequireStaff).Post("/plans", api.CreatePlan)
		r.With(api.RequireStaff).Patch("/plans/{name}", api.PatchPlan)
		r.With(api.RequireStaff).Delete("/plans/{name}", api.DeletePlan)
		r.Get("/beancounters", api.AllBeancounters)
		r.Get("/beancounters/failstat", api.FailStat)
		r.With(api.RequireStaff).Post("/beancounters/snapshots", api.CreateSnapshot)
		r.Get("/beancounters/faildiff", api.FailDiff)
		r.Get("/alerts", api.ListAlerts)
		r.With(api.RequireStaff).Post("/alerts/{id}/ack", api.AckAlert)
		r.Get("/events/ws", api.EventsWS)
		r.Get("/containers", api.ListContainers)
		r.With(api.RequireStaff).Post("/containers", api.CreateContainer)
		r.Route("/containers/{ref}", func(r chi.Router) {
			r.Get("/", api.GetContainer)
			r.Patch("/", api.PatchContainer)
			r.With(api.RequireStaff).Delete("/", api.DeleteContainer)
			r.Get("/operations", api.ListContainerOperations)
			r.Get("/limits", api.GetLimits)
			r.With(api.RequireStaff).Patch("/limits", api.PatchLimits)
			r.Get("/beancounters", api.ContainerBeancounters)
			r.Get("/stats", api.Stats)
			r.Get("/stats/ws", api.StatsWS)
			for _, action := range []string{ops.ActionStart, ops.ActionStop, ops.ActionShutdown, ops.ActionRestart} {
				r.Post("/"+action, api.ContainerAction(action))
			}
			for _, action := range []string{ops.ActionFreeze, ops.ActionUnfreeze} {
				r.With(api.RequireStaff).Post("/"+action, api.ContainerAction(action))
			}
			r.With(api.RequireStaff).Post("/clone", api.CloneContainer)
			r.Post("/exec", api.ExecContainer)
			r.Get("/usage", api.ContainerUsage)
			r.With(api.RequireStaff).Post("/suspend", api.Suspend)
			r.With(api.RequireStaff).Post("/unsuspend", api.Unsuspend)
			r.With(api.RequireStaff).Post("/terminate", api.Terminate)
			r.With(api.RequireStaff).Post("/change-plan", api.ChangePlan)
			r.Post("/reinstall", api.Reinstall)
			r.Post("/reset-password", api.ResetPassword)
		})
		r.Get("/operations/{id}", api.GetOperation)
		r.Get("/operations/{id}/wait", api.WaitOperation)
	})
	return r
}

func requestLogger(api *handlers.API) func(http.Handler) http.Handler {
	return func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			start := time.Now()
			ww := middleware.NewWrapResponseWriter(w, r.ProtoMajor)
			next.ServeHTTP(ww, r)
			api.Log.Debug("http", "method", r.Method, "path", r.URL.Path, "status", ww.Status(),
				"dur", time.Since(start), "req", middleware.GetReqID(r.Context()))
		})
	}
}
