package mcpserver

import (
	"net/http"
	"net/url"
	"slices"
	"strings"

	"github.com/flowgate/flowgate/internal/hostallow"
)

// hostAllowed tells whether a request names this server by a name it answers to: a
// loopback name, the host of its public URL (Auth.ResourceURL) or of an allowed origin.
// A page reached under any other Host is a DNS-rebinding attempt: a page of another site
// whose name now points at this machine, reading links and posting decisions as if it
// were this server.
func (s *Server) hostAllowed(host string) bool {
	return hostallow.Allowed(host, s.publicOrigins())
}

// publicOrigins are the origins this server is reached at besides loopback.
func (s *Server) publicOrigins() []string {
	out := slices.Clone(s.cfg.AllowedOrigins)
	if s.cfg.Auth != nil {
		if o := hostallow.Origin(s.cfg.Auth.ResourceURL); o != "" {
			out = append(out, o)
		}
	}
	return out
}

// refuseForeignHost answers 421 to a request whose Host this server does not answer to,
// and tells whether it did.
func (s *Server) refuseForeignHost(w http.ResponseWriter, r *http.Request) bool {
	if s.hostAllowed(r.Host) {
		return false
	}
	http.Error(w, "this server does not answer to the host named in the request; open it at its own address (loopback, or the public URL it is configured with)", http.StatusMisdirectedRequest)
	return true
}

// sameOrigin accepts a form posted from one of this server's own pages: an Origin that
// is a loopback origin or a configured public origin, and whose host is the request's own.
// A client that sends no Origin (a test, a command-line tool) passes unless the browser
// says the request came from another site.
func (s *Server) sameOrigin(r *http.Request) bool {
	origin := r.Header.Get("Origin")
	if origin == "" || origin == "null" {
		return r.Header.Get("Sec-Fetch-Site") == "" || r.Header.Get("Sec-Fetch-Site") == "same-origin"
	}
	u, err := url.Parse(origin)
	if err != nil || u.Host != r.Host {
		return false
	}
	return s.hostAllowed(u.Host)
}

// secureCookies tells whether a cookie set for r must be Secure: the request came over
// TLS, or the server's public URL is https (TLS ends at a proxy in front of it).
func (s *Server) secureCookies(r *http.Request) bool {
	if r.TLS != nil {
		return true
	}
	return slices.ContainsFunc(s.publicOrigins(), func(o string) bool {
		u, err := url.Parse(o)
		return err == nil && u.Scheme == "https" && strings.EqualFold(u.Host, r.Host)
	})
}
