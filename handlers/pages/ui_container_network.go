package pages

import (
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/ctpanel/ctpanel/domain/containers"
	"github.com/ctpanel/ctpanel/ubc"
)

// AddAddress is POST /containers/{ref}/ip-addresses: the API's address
// add ("auto", "auto6" or an address; staff may name a pool). Refused,
// the container page comes back with the error on the field.
func (u *UI) AddAddress(w http.ResponseWriter, r *http.Request) {
	form := map[string]string{"address": strings.TrimSpace(r.PostFormValue("address")), "pool": strings.TrimSpace(r.PostFormValue("pool"))}
	req := containers.AddressRequest{Address: form["address"], Pool: form["pool"]}
	if req.Address == "auto6" {
		req.Address, req.Family = "auto", 6
	}
	_, op, err := u.Containers.AddAddress(r.Context(), principal(r), ref(r), req)
	if err != nil {
		fields, msg, status, ok := u.formRefusal(w, r, err)
		if !ok {
			return
		}
		u.showContainer(w, r, status, view{"AddrForm": form, "AddrErrors": fields, "AddrError": msg})
		return
	}
	containerOpRedirect(w, r, op, "?done=address#network")
}

// RemoveAddress is POST /containers/{ref}/ip-addresses/remove (form field
// address): the API's address DELETE.
func (u *UI) RemoveAddress(w http.ResponseWriter, r *http.Request) {
	op, err := u.Containers.RemoveAddress(r.Context(), principal(r), ref(r), r.PostFormValue("address"))
	if err != nil {
		fields, msg, status, ok := u.formRefusal(w, r, err)
		if !ok {
			return
		}
		u.showContainer(w, r, status, view{"AddrErrors": fields, "AddrError": msg})
		return
	}
	containerOpRedirect(w, r, op, "?done=address#network")
}

// trafficBar is one hour of the traffic chart.
type trafficBar struct {
	X, InY, InH, OutY, OutH float64
	Title                   string
}

// trafficChart is the container page's chart of the last hours' traffic:
// bars in and out per hour, drawn as SVG in the page.
type trafficChart struct {
	Bars          []trafficBar
	Width, Height float64
	Max           string
	In, Out       string
	Hours         int
}

const chartHours = 48

// trafficChartOf lays out hours (ascending) ending at now.
func trafficChartOf(hours []containers.TrafficHour, now time.Time) trafficChart {
	const barW, height = 10.0, 100.0
	end := now.UTC().Truncate(time.Hour)
	by := map[time.Time]containers.TrafficHour{}
	var maxB, in, out uint64
	for _, h := range hours {
		by[h.Hour.UTC()] = h
		maxB = max(maxB, h.InBytes, h.OutBytes)
		in += h.InBytes
		out += h.OutBytes
	}
	c := trafficChart{Width: barW * chartHours, Height: height, Max: ubc.FormatBytes(maxB), Hours: chartHours,
		In: ubc.FormatBytes(in), Out: ubc.FormatBytes(out)}
	for i := range chartHours {
		at := end.Add(time.Duration(i-chartHours+1) * time.Hour)
		h := by[at]
		scale := func(b uint64) float64 {
			if maxB == 0 {
				return 0
			}
			return height * float64(b) / float64(maxB)
		}
		inH, outH := scale(h.InBytes), scale(h.OutBytes)
		c.Bars = append(c.Bars, trafficBar{X: float64(i) * barW, InY: height - inH, InH: inH, OutY: height - outH, OutH: outH,
			Title: fmt.Sprintf("%s UTC: in %s, out %s", at.Format("Jan 2 15:04"), ubc.FormatBytes(h.InBytes), ubc.FormatBytes(h.OutBytes))})
	}
	return c
}

// networkData is what the container page's network section shows.
func (u *UI) networkData(r *http.Request, ctid int) (view, error) {
	ctx, p := r.Context(), principal(r)
	name := strconv.Itoa(ctid)
	addrs, err := u.Containers.Addresses(ctx, p, name)
	if err != nil {
		return nil, err
	}
	now := time.Now()
	hours, err := u.Containers.Traffic(ctx, p, name, now.Add(-chartHours*time.Hour), now)
	if err != nil {
		return nil, err
	}
	v := view{"Addresses": addrs, "Traffic": trafficChartOf(hours, now), "AddrErrors": FieldErrors{}}
	if p.IsStaff() {
		pools, err := u.Networks.List(ctx, p)
		if err != nil {
			return nil, err
		}
		v["Pools"] = pools
	}
	return v, nil
}
