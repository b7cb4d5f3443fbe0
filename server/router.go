package server

import (
	"net/http"
	"time"

	"github.com/go-chi/chi/v5"
	"github.com/go-chi/chi/v5/middleware"

	"github.com/ctpanel/ctpanel/console"
	"github.com/ctpanel/ctpanel/handlers"
	"github.com/ctpanel/ctpanel/ops"
	"github.com/ctpanel/ctpanel/web"
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
	// Terminals: the pages get their token from the URL fragment; the
	// websockets take a one-time ?ticket= (a browser cannot send headers
	// on a websocket) or the bearer token.
	r.Get("/containers/{ref}/console", api.TerminalPage(console.KindConsole))
	r.Get("/containers/{ref}/shell", api.TerminalPage(console.KindShell))
	r.Handle("/static/*", api.Static())
	r.With(api.AuthenticateWS).Get("/api/v1/containers/{ref}/console", api.TerminalWS(console.KindConsole))
	r.With(api.AuthenticateWS).Get("/api/v1/containers/{ref}/shell", api.TerminalWS(console.KindShell))

	// The web panel: pages signed in with a session cookie, refusing
	// cross-origin posts and forms without the session's CSRF token.
	ui := handlers.MustNewUI(api, web.FS)
	r.Group(func(r chi.Router) {
		r.Use(ui.Secure, ui.LoadSession)
		r.Get("/login", ui.LoginPage)
		r.Post("/login", ui.Login)
		r.Get("/set-password", ui.SetPasswordPage)
		r.Post("/set-password", ui.SetPassword)
		r.Group(func(r chi.Router) {
			r.Use(ui.RequireLogin)
			r.Post("/logout", ui.Logout)
			r.Get("/", ui.Dashboard)
			r.Get("/session.json", ui.SessionInfo)
			r.Get("/account", ui.AccountPage)
			r.Post("/account/password", ui.ChangePassword)
			r.Get("/containers/{ref}", ui.ContainerPage)
			r.Post("/containers/{ref}/settings", ui.ContainerSettings)
			r.Get("/containers/{ref}/reinstall", ui.ReinstallPage)
			r.Post("/containers/{ref}/reinstall", ui.Reinstall)
			for _, action := range []string{ops.ActionStart, ops.ActionStop, ops.ActionRestart, ops.ActionFreeze, ops.ActionUnfreeze} {
				r.Post("/containers/{ref}/"+action, ui.ContainerAction(action))
			}
			r.Group(func(r chi.Router) {
				r.Use(ui.RequireStaff)
				r.Get("/containers/new", ui.NewContainerPage)
				r.Post("/containers/new", ui.CreateContainer)
				r.Post("/containers/{ref}/limits", ui.ContainerLimits)
				r.Get("/containers/{ref}/clone", ui.ClonePage)
				r.Post("/containers/{ref}/clone", ui.Clone)
				r.Get("/containers/{ref}/destroy", ui.DestroyPage)
				r.Post("/containers/{ref}/destroy", ui.Destroy)
				r.Get("/plans", ui.PlansPage)
				r.Post("/plans", ui.CreatePlan)
				r.Get("/plans/{name}", ui.PlanPage)
				r.Post("/plans/{name}", ui.UpdatePlan)
				r.Post("/plans/{name}/delete", ui.DeletePlan)
				r.Get("/templates", ui.TemplatesPage)
				r.Post("/templates/{name}/enable", ui.SetTemplateEnabled(true))
				r.Post("/templates/{name}/disable", ui.SetTemplateEnabled(false))
				r.Post("/templates/{name}/delete", ui.DeleteTemplate)
				r.Get("/customers", ui.CustomersPage)
				r.Post("/customers", ui.CreateCustomer)
				r.Post("/customers/{id}/disable", ui.UpdateCustomer("disable"))
				r.Post("/customers/{id}/enable", ui.UpdateCustomer("enable"))
				r.Post("/customers/{id}/password", ui.UpdateCustomer("password"))
				r.Post("/customers/{id}/delete", ui.DeleteCustomer)
				r.Post("/customers/{id}/password-link", ui.PasswordLinkUI)
				r.Get("/audit", ui.AuditPage)
				r.Get("/alerts", ui.AlertsPage)
				r.Post("/alerts/{id}/ack", ui.AckAlert)
			})
			r.Group(func(r chi.Router) {
				r.Use(ui.RequireAdmin)
				r.Get("/users", ui.UsersPage)
				r.Post("/users", ui.CreateUser)
				r.Post("/users/{id}/disable", ui.SetUserDisabled(true))
				r.Post("/users/{id}/enable", ui.SetUserDisabled(false))
				r.Get("/tokens", ui.TokensPage)
				r.Post("/tokens", ui.CreateToken)
				r.Post("/tokens/{id}/revoke", ui.RevokeToken)
			})
		})
	})

	r.Route("/api/v1", func(r chi.Router) {
		r.Use(api.Authenticate, api.AuditCalls, api.Idempotency)
		r.Get("/templates", api.ListTemplates)
		r.Get("/templates/{name}", api.GetTemplate)
		r.With(api.RequireStaff).Put("/templates/{name}", api.PutTemplate)
		r.With(api.RequireStaff).Patch("/templates/{name}", api.PatchTemplate)
		r.With(api.RequireStaff).Delete("/templates/{name}", api.DeleteTemplate)
		r.With(api.RequireAdmin).Post("/tokens", api.CreateToken)
		r.With(api.RequireAdmin).Get("/tokens", api.ListTokens)
		r.With(api.RequireAdmin).Delete("/tokens/{id}", api.RevokeToken)
		r.With(api.RequireStaff).Post("/customers", api.CreateCustomer)
		r.With(api.RequireStaff).Get("/customers", api.ListCustomers)
		r.With(api.RequireStaff).Get("/customers/{id}", api.GetCustomer)
		r.With(api.RequireStaff).Patch("/customers/{id}", api.PatchCustomer)
		r.With(api.RequireStaff).Delete("/customers/{id}", api.DeleteCustomer)
		r.With(api.RequireStaff).Post("/customers/{id}/password-link", api.CreatePasswordLink)
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
			r.Post("/console/ticket", api.TerminalTicket(console.KindConsole))
			r.Post("/shell/ticket", api.TerminalTicket(console.KindShell))
			r.Get("/sessions", api.ListTerminalSessions)
			r.Delete("/sessions/{id}", api.EndTerminalSession)
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
