// Package hostallow decides whether an HTTP request's Host names a server by a name it
// answers to. A browser page of another site whose DNS name now points at this machine
// (DNS rebinding) reaches a loopback listener under its own name: a listener that answers
// only to loopback names and to the origins it is configured with refuses it.
package hostallow

import (
	"net"
	"net/url"
	"slices"
	"strings"
)

// Allowed tells whether host, a request's Host (host or host:port), names the server: a
// loopback name with any port, or exactly the host[:port] of one of origins
// (scheme://host[:port]), compared case-insensitively.
func Allowed(host string, origins []string) bool {
	name := host
	if h, _, err := net.SplitHostPort(host); err == nil {
		name = h
	}
	if LoopbackName(name) {
		return true
	}
	return slices.ContainsFunc(origins, func(o string) bool {
		u, err := url.Parse(o)
		return err == nil && strings.EqualFold(u.Host, host)
	})
}

// LoopbackName tells whether a host name (no port) names this machine's loopback:
// localhost in any case, or a loopback address, bracketed or not.
func LoopbackName(name string) bool {
	name = strings.TrimSuffix(strings.Trim(name, "[]"), ".")
	if strings.EqualFold(name, "localhost") {
		return true
	}
	ip := net.ParseIP(name)
	return ip != nil && ip.IsLoopback()
}

// Origin is the scheme://host[:port] of a URL, such as a server's public URL, or "" when
// it has no host.
func Origin(rawURL string) string {
	u, err := url.Parse(rawURL)
	if err != nil || u.Host == "" {
		return ""
	}
	return u.Scheme + "://" + u.Host
}
