// Package freeport finds a TCP port to listen on later, one the operating system will
// not hand to someone else in the meantime.
package freeport

import (
	"fmt"
	"net"
	"runtime"
)

// Port returns a TCP port that is free on host, for a listener that binds it later.
//
// It asks the system for one (bind to port 0). Closing that listener would let the
// system hand the same number out again at once, to another bind to port 0 or as the
// source port of an outgoing connection, before the caller binds it: a race that made
// the embedded server's gRPC listeners fail now and then. So, as Temporal's own CLI does,
// it connects to the port and closes the connection from the listening side first, which
// leaves that side in TIME_WAIT (a minute on Linux): meanwhile the system does not give
// the number out, and an explicit bind still succeeds (Go listeners set SO_REUSEADDR).
func Port(host string) (int, error) {
	l, err := net.Listen("tcp", net.JoinHostPort(host, "0"))
	if err != nil {
		return 0, fmt.Errorf("find a free port on %s: %w", host, err)
	}
	defer l.Close()
	addr := l.Addr().(*net.TCPAddr)
	if runtime.GOOS != "windows" {
		client, err := net.DialTCP("tcp", nil, addr)
		if err != nil {
			return 0, fmt.Errorf("find a free port on %s: %w", host, err)
		}
		defer client.Close()
		server, err := l.Accept()
		if err != nil {
			return 0, fmt.Errorf("find a free port on %s: %w", host, err)
		}
		_ = server.Close() // the listening side closes first: it keeps the TIME_WAIT
	}
	return addr.Port, nil
}
