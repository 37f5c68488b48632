package dashboard

import (
	"bytes"
	"html/template"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/celeroot/celeroot/agent"
)

// page is what every template receives.
type page struct {
	Title   string
	Nav     string // fleet | applies | deliveries | tasks
	Summary agent.StatusDoc
	Now     time.Time
	Error   string // the read model failed: shown instead of the data
	Data    any
}

// pageNames are the templates, one per page, each with layout.html.
var pageNames = []string{"fleet", "host", "applies", "apply", "deliveries", "tasks", "run"}

func parsePages() map[string]*template.Template {
	out := map[string]*template.Template{}
	for _, n := range pageNames {
		out[n] = template.Must(template.New(n).Funcs(funcs).ParseFS(files, "templates/layout.html", "templates/"+n+".html"))
	}
	return out
}

// render writes the page, or only its live part when app.js asks
// (X-CL-Partial: 1).
func (d *Dashboard) render(w http.ResponseWriter, r *http.Request, name string, status int, p page) {
	p.Summary = d.src.Summary(r.Context())
	p.Now = time.Now().UTC()
	tmpl := "layout"
	if r.Header.Get("X-CL-Partial") == "1" {
		tmpl = "livepart"
	}
	var buf bytes.Buffer
	if err := d.pages()[name].ExecuteTemplate(&buf, tmpl, p); err != nil {
		d.opts.Log.Error("dashboard: render", "page", name, "err", err)
		http.Error(w, "dashboard: render "+name+": "+err.Error(), http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.WriteHeader(status)
	if r.Method != http.MethodHead {
		_, _ = w.Write(buf.Bytes())
	}
}

// fleetData is the fleet page: the hosts the filters select, one page.
type fleetData struct {
	*agent.FleetView
	Shown              []agent.FleetHost
	Total, Matched     int
	Role, Tag, State   string
	Roles              []string
	Page, Pages        int
	PrevURL, NextURL   string
	InSync, Drifted    int
	Pending, Unknown   int
	Workers, NoWorker  int
	FilterStates       []string
	ShownFrom, ShownTo int
}

func (d *Dashboard) fleet(w http.ResponseWriter, r *http.Request) {
	p := page{Title: "Fleet", Nav: "fleet"}
	v, err := d.src.Fleet(r.Context())
	if err != nil {
		p.Error = err.Error()
		d.render(w, r, "fleet", http.StatusOK, p)
		return
	}
	p.Data = filterFleet(v, r.URL.Query(), d.opts.PageSize)
	d.render(w, r, "fleet", http.StatusOK, p)
}

// filterFleet applies ?role=, ?tag= (k or k=v), ?state= and ?page=.
func filterFleet(v *agent.FleetView, q url.Values, size int) *fleetData {
	f := &fleetData{FleetView: v, Total: len(v.Hosts), Role: q.Get("role"), Tag: q.Get("tag"), State: q.Get("state"),
		FilterStates: []string{"in-sync", "drifted", "pending", "unknown"}}
	tk, tv, hasV := strings.Cut(f.Tag, "=")
	var match []agent.FleetHost
	for _, h := range v.Hosts {
		if !slices.Contains(f.Roles, h.Role) {
			f.Roles = append(f.Roles, h.Role)
		}
		switch h.State {
		case "in-sync":
			f.InSync++
		case "drifted":
			f.Drifted++
		case "pending":
			f.Pending++
		default:
			f.Unknown++
		}
		if h.Worker != nil {
			f.Workers++
		} else {
			f.NoWorker++
		}
		if f.Role != "" && h.Role != f.Role || f.State != "" && h.State != f.State {
			continue
		}
		if f.Tag != "" {
			val, ok := h.Tags[tk]
			if !ok || hasV && val != tv {
				continue
			}
		}
		match = append(match, h)
	}
	slices.Sort(f.Roles)
	f.Matched = len(match)
	f.Pages = max(1, (len(match)+size-1)/size)
	f.Page, _ = strconv.Atoi(q.Get("page"))
	f.Page = min(max(f.Page, 1), f.Pages)
	lo, hi := (f.Page-1)*size, min(f.Page*size, len(match))
	f.Shown, f.ShownFrom, f.ShownTo = match[lo:hi], lo+1, hi
	link := func(n int) string {
		q2 := url.Values{}
		for _, k := range []string{"role", "tag", "state"} {
			if v := q.Get(k); v != "" {
				q2.Set(k, v)
			}
		}
		q2.Set("page", strconv.Itoa(n))
		return "/ui/?" + q2.Encode()
	}
	if f.Page > 1 {
		f.PrevURL = link(f.Page - 1)
	}
	if f.Page < f.Pages {
		f.NextURL = link(f.Page + 1)
	}
	return f
}

func (d *Dashboard) host(w http.ResponseWriter, r *http.Request) {
	name := r.PathValue("name")
	p := page{Title: "Host " + clean(name), Nav: "fleet"}
	v, ok, err := d.src.Host(r.Context(), name, 30)
	switch {
	case err != nil:
		p.Error = err.Error()
	case !ok:
		p.Error = "no host " + clean(name) + " in cl.yaml at the head: see the fleet page for the hosts"
		d.render(w, r, "host", http.StatusNotFound, p)
		return
	}
	p.Data = v
	d.render(w, r, "host", http.StatusOK, p)
}

func (d *Dashboard) applies(w http.ResponseWriter, r *http.Request) {
	p := page{Title: "Applies", Nav: "applies"}
	v, err := d.src.Applies(r.Context(), 50)
	if err != nil {
		p.Error = err.Error()
	}
	p.Data = v
	d.render(w, r, "applies", http.StatusOK, p)
}

// applyData is one history record's page.
type applyData struct {
	Record *agent.ApplyRecord
	Commit *agent.CommitView
}

func (d *Dashboard) apply(w http.ResponseWriter, r *http.Request) {
	id := r.PathValue("id")
	p := page{Title: "Apply " + clean(id), Nav: "applies"}
	v, err := d.src.Applies(r.Context(), 200)
	if err != nil {
		p.Error = err.Error()
		d.render(w, r, "apply", http.StatusOK, p)
		return
	}
	for i := range v.History {
		if rec := &v.History[i]; rec.ID == id {
			data := applyData{Record: rec}
			if c, ok := v.Commits[rec.SHA]; ok {
				data.Commit = &c
			}
			p.Data = data
			d.render(w, r, "apply", http.StatusOK, p)
			return
		}
	}
	p.Error = "no apply " + clean(id) + " in the history (it keeps the last 200): see the applies page"
	d.render(w, r, "apply", http.StatusNotFound, p)
}

func (d *Dashboard) deliveries(w http.ResponseWriter, r *http.Request) {
	p := page{Title: "Deliveries", Nav: "deliveries"}
	ds, ok := d.src.WebhookDeliveries()
	if !ok {
		p.Error = "the agent takes no webhooks: start it with --webhook-secret-file FILE (or CL_WEBHOOK_SECRET) to receive pushes"
	}
	p.Data = ds
	d.render(w, r, "deliveries", http.StatusOK, p)
}

func (d *Dashboard) tasks(w http.ResponseWriter, r *http.Request) {
	p := page{Title: "Tasks", Nav: "tasks"}
	v, err := d.src.Tasks(r.Context(), 50)
	if err != nil {
		p.Error = err.Error()
	}
	p.Data = v
	d.render(w, r, "tasks", http.StatusOK, p)
}

func (d *Dashboard) run(w http.ResponseWriter, r *http.Request) {
	id := r.PathValue("id")
	p := page{Title: "Run " + clean(id), Nav: "tasks"}
	run, err := d.src.Run(r.Context(), id)
	switch {
	case err != nil:
		p.Error = err.Error()
	case run == nil:
		p.Error = "no run " + clean(id) + ": it never existed or its record expired (runs are kept 24 h by default)"
		d.render(w, r, "run", http.StatusNotFound, p)
		return
	}
	p.Data = run
	d.render(w, r, "run", http.StatusOK, p)
}

// pathEscape escapes one path segment (a host name, a run id).
func pathEscape(s string) string { return url.PathEscape(s) }
