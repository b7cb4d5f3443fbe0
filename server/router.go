package server

import (
	"net/http"
	"time"

	"github.com/go-chi/chi/v5"
	"github.com/go-chi/chi/v5/middleware"

	"github.com/ctpanel/ctpanel/console"
	"github.com/ctpanel/ctpanel/handlers/api"
	"github.com/ctpanel/ctpanel/handlers/pages"
	"github.com/ctpanel/ctpanel/ops"
)

// Router declares every route of ctpanel in one place.
func Router(a *api.API, ui *pages.UI) chi.Router {
	r := chi.NewRouter()
	r.Use(middleware.RequestID, requestLogger(a), middleware.Recoverer, a.Origins.RequireHost)
	r.NotFound(a.NotFound)
	r.MethodNotAllowed(a.MethodNotAllowed)

	r.Get("/healthz", a.Healthz)
	r.Get("/api/v1/openapi.json", a.OpenAPI)
	r.With(a.Authenticate, a.RequireStaff).Get("/metrics", a.Metrics)
	// Terminals: the pages get their token from the URL fragment; the
	// websockets take a one-time ?ticket= (a browser cannot send headers
	// on a websocket) or the bearer token.
	r.Get("/containers/{ref}/console", ui.TerminalPage(console.KindConsole))
	r.Get("/containers/{ref}/shell", ui.TerminalPage(console.KindShell))
	r.Handle("/static/*", ui.Static())
	r.With(a.AuthenticateWS).Get("/api/v1/containers/{ref}/console", a.TerminalWS(console.KindConsole))
	r.With(a.AuthenticateWS).Get("/api/v1/containers/{ref}/shell", a.TerminalWS(console.KindShell))

	// The web panel: pages signed in with a session cookie, refusing
	// cross-origin posts and forms without the session's CSRF token.
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
			r.Post("/containers/{ref}/ip-addresses", ui.AddAddress)
			r.Post("/containers/{ref}/ip-addresses/remove", ui.RemoveAddress)
			r.Post("/containers/{ref}/backups", ui.CreateBackup)
			r.Post("/containers/{ref}/backups/{id}/{action}", ui.BackupAction)
			r.Post("/containers/{ref}/backup-schedule", ui.SetBackupSchedule)
			r.Post("/containers/{ref}/snapshots", ui.TakeSnapshot)
			r.Post("/containers/{ref}/snapshots/{name}/{action}", ui.SnapshotAction)
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
				r.Post("/containers/{ref}/suspend", ui.Suspend)
				r.Post("/containers/{ref}/unsuspend", ui.Unsuspend)
				r.Get("/containers/{ref}/clone", ui.ClonePage)
				r.Post("/containers/{ref}/clone", ui.Clone)
				r.Get("/containers/{ref}/destroy", ui.DestroyPage)
				r.Post("/containers/{ref}/destroy", ui.Destroy)
				r.Get("/plans", ui.PlansPage)
				r.Post("/plans", ui.CreatePlan)
				r.Get("/plans/{name}", ui.PlanPage)
				r.Post("/plans/{name}", ui.UpdatePlan)
				r.Post("/plans/{name}/delete", ui.DeletePlan)
				r.Get("/backups", ui.BackupTargetsPage)
				r.Post("/backups/targets", ui.CreateBackupTarget)
				r.Post("/backups/targets/{name}/delete", ui.DeleteBackupTarget)
				r.Get("/networks", ui.NetworksPage)
				r.Post("/networks/pools", ui.CreatePool)
				r.Get("/networks/pools/{id}", ui.PoolPage)
				r.Post("/networks/pools/{id}", ui.UpdatePool)
				r.Post("/networks/pools/{id}/delete", ui.DeletePool)
				r.Post("/networks/reservations", ui.Reserve)
				r.Post("/networks/reservations/remove", ui.Unreserve)
				r.Get("/templates", ui.TemplatesPage)
				r.Post("/templates/{name}/enable", ui.SetTemplateEnabled(true))
				r.Post("/templates/{name}/disable", ui.SetTemplateEnabled(false))
				r.Post("/templates/{name}/delete", ui.DeleteTemplate)
				r.Post("/templates/build", ui.BuildImage)
				r.Post("/templates/import", ui.ImportImage)
				r.Post("/templates/{name}/versions/{version}/delete", ui.DeleteImageVersion)
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
		r.Use(a.RefuseControlChars, a.Authenticate, a.AuditCalls, a.Idempotency)
		r.Get("/templates", a.ListTemplates)
		r.Get("/templates/{name}", a.GetTemplate)
		r.With(a.RequireOperator).Put("/templates/{name}", a.PutTemplate)
		r.With(a.RequireOperator).Patch("/templates/{name}", a.PatchTemplate)
		r.With(a.RequireOperator).Delete("/templates/{name}", a.DeleteTemplate)
		r.With(a.RequireOperator).Post("/templates/{name}/versions", a.AddTemplateVersion)
		r.With(a.RequireOperator).Delete("/templates/{name}/versions/{version}", a.DeleteTemplateVersion)
		r.With(a.RequireOperator).Get("/image-recipes", a.ImageRecipes)
		r.With(a.RequireOperator).Post("/image-builds", a.BuildImage)
		r.With(a.RequireOperator).Post("/image-imports", a.ImportImage)
		r.With(a.RequireOperator).Get("/image-sources", a.ImageSources)
		r.With(a.RequireOperator).Get("/image-tasks", a.ListImageTasks)
		r.With(a.RequireOperator).Get("/image-tasks/{id}", a.GetImageTask)
		r.With(a.RequireAdmin).Post("/tokens", a.CreateToken)
		r.With(a.RequireAdmin).Get("/tokens", a.ListTokens)
		r.With(a.RequireAdmin).Delete("/tokens/{id}", a.RevokeToken)
		r.With(a.RequireStaff).Post("/customers", a.CreateCustomer)
		r.With(a.RequireStaff).Get("/customers", a.ListCustomers)
		r.With(a.RequireStaff).Get("/customers/{id}", a.GetCustomer)
		r.With(a.RequireStaff).Patch("/customers/{id}", a.PatchCustomer)
		r.With(a.RequireStaff).Delete("/customers/{id}", a.DeleteCustomer)
		r.With(a.RequireStaff).Post("/customers/{id}/password-link", a.CreatePasswordLink)
		r.With(a.RequireStaff).Post("/webhooks", a.CreateWebhook)
		r.With(a.RequireStaff).Get("/webhooks", a.ListWebhooks)
		r.With(a.RequireStaff).Delete("/webhooks/{id}", a.DeleteWebhook)
		r.With(a.RequireStaff).Get("/webhooks/{id}/deliveries", a.ListDeliveries)
		r.With(a.RequireStaff).Get("/ip-pools", a.ListPools)
		r.With(a.RequireStaff).Post("/ip-pools", a.CreatePool)
		r.With(a.RequireStaff).Get("/ip-pools/{id}", a.GetPool)
		r.With(a.RequireStaff).Patch("/ip-pools/{id}", a.PatchPool)
		r.With(a.RequireStaff).Delete("/ip-pools/{id}", a.DeletePool)
		r.With(a.RequireStaff).Get("/backup-targets", a.ListBackupTargets)
		r.With(a.RequireStaff).Post("/backup-targets", a.CreateBackupTarget)
		r.With(a.RequireStaff).Delete("/backup-targets/{name}", a.DeleteBackupTarget)
		r.Get("/backups/{id}", a.GetBackup)
		r.Delete("/backups/{id}", a.DeleteBackup)
		r.Patch("/backups/{id}", a.PatchBackup)
		r.Post("/backups/{id}/restore", a.RestoreBackup)
		r.Get("/ip-addresses", a.ListHeldAddresses)
		r.With(a.RequireStaff).Post("/ip-addresses", a.ReserveAddress)
		r.With(a.RequireStaff).Delete("/ip-addresses/{address}", a.UnreserveAddress)
		r.Get("/usage", a.AllUsage)
		r.Get("/plans", a.ListPlans)
		r.Get("/plans/{name}", a.GetPlan)
		r.With(a.RequireStaff).Post("/plans", a.CreatePlan)
		r.With(a.RequireStaff).Patch("/plans/{name}", a.PatchPlan)
		r.With(a.RequireStaff).Delete("/plans/{name}", a.DeletePlan)
		r.Get("/beancounters", a.AllBeancounters)
		r.Get("/beancounters/failstat", a.FailStat)
		r.With(a.RequireOperator).Post("/beancounters/snapshots", a.CreateSnapshot)
		r.Get("/beancounters/faildiff", a.FailDiff)
		r.Get("/alerts", a.ListAlerts)
		r.With(a.RequireOperator).Post("/alerts/{id}/ack", a.AckAlert)
		r.Get("/events/ws", a.EventsWS)
		r.Get("/containers", a.ListContainers)
		r.With(a.RequireStaff).Post("/containers", a.CreateContainer)
		r.Route("/containers/{ref}", func(r chi.Router) {
			r.Get("/", a.GetContainer)
			r.Patch("/", a.PatchContainer)
			r.With(a.RequireOperator).Delete("/", a.DeleteContainer)
			r.Get("/operations", a.ListContainerOperations)
			r.Get("/limits", a.GetLimits)
			r.With(a.RequireOperator).Patch("/limits", a.PatchLimits)
			r.Get("/beancounters", a.ContainerBeancounters)
			r.Get("/stats", a.Stats)
			r.Get("/stats/ws", a.StatsWS)
			for _, action := range []string{ops.ActionStart, ops.ActionStop, ops.ActionShutdown, ops.ActionRestart} {
				r.Post("/"+action, a.ContainerAction(action))
			}
			for _, action := range []string{ops.ActionFreeze, ops.ActionUnfreeze} {
				r.With(a.RequireOperator).Post("/"+action, a.ContainerAction(action))
			}
			r.With(a.RequireOperator).Post("/clone", a.CloneContainer)
			r.With(a.RequireOperator).Post("/unprivilege", a.UnprivilegeContainer)
			r.Post("/exec", a.ExecContainer)
			r.Post("/console/ticket", a.TerminalTicket(console.KindConsole))
			r.Post("/shell/ticket", a.TerminalTicket(console.KindShell))
			r.Get("/sessions", a.ListTerminalSessions)
			r.Delete("/sessions/{id}", a.EndTerminalSession)
			r.Get("/usage", a.ContainerUsage)
			r.Get("/traffic", a.ContainerTraffic)
			r.Get("/backups", a.ContainerBackups)
			r.Post("/backups", a.CreateBackup)
			r.Get("/snapshots", a.ContainerSnapshots)
			r.Post("/snapshots", a.TakeSnapshot)
			r.Post("/snapshots/{name}/rollback", a.RollbackSnapshot)
			r.Delete("/snapshots/{name}", a.DeleteSnapshot)
			r.Get("/backup-schedule", a.GetBackupSchedule)
			r.Put("/backup-schedule", a.PutBackupSchedule)
			r.Delete("/backup-schedule", a.DeleteBackupSchedule)
			r.Get("/ip-addresses", a.ContainerAddresses)
			r.Post("/ip-addresses", a.AddAddress)
			r.Delete("/ip-addresses/{address}", a.RemoveAddress)
			r.With(a.RequireStaff).Post("/suspend", a.Suspend)
			r.With(a.RequireStaff).Post("/unsuspend", a.Unsuspend)
			r.With(a.RequireStaff).Post("/terminate", a.Terminate)
			r.With(a.RequireStaff).Post("/change-plan", a.ChangePlan)
			r.Post("/reinstall", a.Reinstall)
			r.Post("/reset-password", a.ResetPassword)
		})
		r.Get("/operations/{id}", a.GetOperation)
		r.Get("/operations/{id}/wait", a.WaitOperation)
	})
	return r
}

func requestLogger(a *api.API) func(http.Handler) http.Handler {
	return func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			start := time.Now()
			ww := middleware.NewWrapResponseWriter(w, r.ProtoMajor)
			next.ServeHTTP(ww, r)
			route := ""
			if rc := chi.RouteContext(r.Context()); rc != nil {
				route = rc.RoutePattern()
			}
			a.Telemetry.ObserveHTTP(r.Method, route, ww.Status(), time.Since(start).Seconds())
			a.Log.Debug("http", "method", r.Method, "path", r.URL.Path, "status", ww.Status(),
				"dur", time.Since(start), "req", middleware.GetReqID(r.Context()))
		})
	}
}
