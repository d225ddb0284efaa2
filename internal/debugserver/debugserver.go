// Package debugserver serves Go's runtime profiles (net/http/pprof) on a loopback
// address, for finding where a process's memory and time go. It is off unless a command
// is given --debug-addr.
package debugserver

import (
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/http/pprof"
	"runtime"
	"runtime/debug"
	"time"
)

// Check refuses an address Listen would refuse, so a command can say so before it starts
// anything.
func Check(addr string) error {
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return fmt.Errorf("--debug-addr %q is not host:port", addr)
	}
	if ip := net.ParseIP(host); host != "localhost" && (ip == nil || !ip.IsLoopback()) {
		return fmt.Errorf("--debug-addr %s is not a loopback address; allowed: 127.0.0.1:PORT or localhost:PORT (profiles show the process's memory)", addr)
	}
	return nil
}

// Listen serves /debug/pprof/ (and POST /debug/free-os-memory) on addr, which must be a loopback address: profiles show
// the process's memory. It returns the server's stop function.
func Listen(addr string) (stop func() error, err error) {
	if err := Check(addr); err != nil {
		return nil, err
	}
	l, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("--debug-addr %s is not available: %w", addr, err)
	}
	mux := http.NewServeMux()
	mux.HandleFunc("/debug/pprof/", pprof.Index)
	mux.HandleFunc("/debug/pprof/cmdline", pprof.Cmdline)
	mux.HandleFunc("/debug/pprof/profile", pprof.Profile)
	mux.HandleFunc("/debug/pprof/symbol", pprof.Symbol)
	mux.HandleFunc("/debug/pprof/trace", pprof.Trace)
	// POST /debug/free-os-memory collects garbage and returns the free memory to the
	// operating system at once (debug.FreeOSMemory), so the RSS that follows is what the
	// process holds, not garbage or pages the runtime has yet to give back.
	mux.HandleFunc("POST /debug/free-os-memory", func(w http.ResponseWriter, _ *http.Request) {
		debug.FreeOSMemory()
		var m runtime.MemStats
		runtime.ReadMemStats(&m)
		fmt.Fprintf(w, "heap in use %d bytes, %d returned to the OS\n", m.HeapInuse, m.HeapReleased)
	})
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second}
	go func() {
		if err := srv.Serve(l); err != nil && !errors.Is(err, http.ErrServerClosed) {
			_ = err // the listener closed: nothing to serve any more
		}
	}()
	return srv.Close, nil
}
