package freeport

import (
	"net"
	"strconv"
	"testing"
)

// TestPortCanBeBoundAndIsNotHandedOutAgain: the port is free to bind explicitly, and the
// system's next picks for port 0 do not return it while it waits for its listener.
func TestPortCanBeBoundAndIsNotHandedOutAgain(t *testing.T) {
	port, err := Port("127.0.0.1")
	if err != nil {
		t.Fatal(err)
	}
	for range 200 {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		got := l.Addr().(*net.TCPAddr).Port
		l.Close()
		if got == port {
			t.Fatalf("port %d was handed out again by a bind to port 0", port)
		}
	}
	l, err := net.Listen("tcp", net.JoinHostPort("127.0.0.1", strconv.Itoa(port)))
	if err != nil {
		t.Fatalf("the free port %d cannot be bound: %v", port, err)
	}
	l.Close()
}
