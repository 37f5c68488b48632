package dashboard

import (
	"crypto/sha256"
	"crypto/subtle"
	"net"
	"net/http"
	"strings"
)

// cookieName holds the token in the browser once ?token= was visited.
const cookieName = "cl_ui_token"

// allowed lets the request through, or answers 401/403 and returns false.
// Without a token only loopback clients are served; with one every
// request carries it (Authorization: Bearer, or the cookie), and a GET
// with ?token= sets the cookie and redirects to the URL without it.
func (d *Dashboard) allowed(w http.ResponseWriter, r *http.Request) bool {
	if d.opts.Token == "" {
		if loopback(r.RemoteAddr) {
			return true
		}
		http.Error(w, "dashboard: without a token only loopback clients are served: start cl agent with --ui-token-file FILE (or CL_UI_TOKEN) for remote use", http.StatusForbidden)
		return false
	}
	if t := r.URL.Query().Get("token"); t != "" {
		if !d.tokenOK(t) {
			d.unauthorized(w)
			return false
		}
		http.SetCookie(w, &http.Cookie{Name: cookieName, Value: t, Path: "/ui/", HttpOnly: true,
			SameSite: http.SameSiteStrictMode, Secure: r.TLS != nil || r.Header.Get("X-Forwarded-Proto") == "https"})
		u := *r.URL
		q := u.Query()
		q.Del("token")
		u.RawQuery = q.Encode()
		http.Redirect(w, r, u.RequestURI(), http.StatusSeeOther)
		return false
	}
	if t, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer "); ok && d.tokenOK(t) {
		return true
	}
	if c, err := r.Cookie(cookieName); err == nil && d.tokenOK(c.Value) {
		return true
	}
	d.unauthorized(w)
	return false
}

func (d *Dashboard) unauthorized(w http.ResponseWriter) {
	w.Header().Set("WWW-Authenticate", `Bearer realm="cl dashboard"`)
	http.Error(w, "dashboard: a token is needed: send Authorization: Bearer TOKEN, or open /ui/?token=TOKEN once", http.StatusUnauthorized)
}

// tokenOK compares t with the token in constant time (of their digests,
// so that the length does not show either).
func (d *Dashboard) tokenOK(t string) bool {
	a, b := sha256.Sum256([]byte(t)), sha256.Sum256([]byte(d.opts.Token))
	return subtle.ConstantTimeCompare(a[:], b[:]) == 1
}

// loopback reports whether addr (host:port) is a loopback address.
func loopback(addr string) bool {
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		host = addr
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}
