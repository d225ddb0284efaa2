package proctest

import (
	"context"
	"errors"
	"net/http"
	"os"
	"path/filepath"

	"github.com/flowgate/flowgate/activities"
	"github.com/flowgate/flowgate/internal/demo"
)

// demoStack is the demo world one case with backends: demo runs against, its own so that
// cases run in parallel and in isolation: the demo backends on a local HTTP server, an app
// database with the demo data, and a sandbox with the demo files, all in a temporary
// folder that close removes.
type demoStack struct {
	gateway  *activities.Gateway
	database *activities.Database
	files    *activities.Files
	close    func() error
}

func newDemoStack(ctx context.Context) (_ *demoStack, err error) {
	dir, err := os.MkdirTemp("", "flowgate-proctest-")
	if err != nil {
		return nil, err
	}
	var closers []func() error
	s := &demoStack{close: func() error {
		var errs []error
		for i := len(closers) - 1; i >= 0; i-- {
			errs = append(errs, closers[i]())
		}
		return errors.Join(append(errs, os.RemoveAll(dir))...)
	}}
	defer func() {
		if err != nil {
			_ = s.close()
		}
	}()
	// The app database is made by its migrations, which write the demo data.
	if s.database, err = activities.OpenDatabase(ctx, filepath.Join(dir, "app.db")); err != nil {
		return nil, err
	}
	closers = append(closers, s.database.Close)
	sandbox := filepath.Join(dir, "sandbox")
	if s.files, err = activities.OpenFiles(sandbox); err != nil {
		return nil, err
	}
	closers = append(closers, s.files.Close)
	if err = demo.SeedSandbox(sandbox); err != nil {
		return nil, err
	}
	backends := demo.New()
	backends.Latency = 0
	url, stop, err := backends.Serve("127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	closers = append(closers, func() error { stop(); return nil })
	s.gateway = &activities.Gateway{Client: &http.Client{}, Services: demo.Services(url)}
	return s, nil
}
