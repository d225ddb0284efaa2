package main

import (
	"context"
	"fmt"
	"net/http"
	"time"
)

// runProbe GETs a URL and fails unless it answers 200: a health check for images
// without curl (the distroless one in the Dockerfile).
func runProbe(ctx context.Context, args []string) error {
	if len(args) != 1 {
		return usageError{fmt.Errorf("usage: flowgate probe URL")}
	}
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, args[0], nil)
	if err != nil {
		return usageError{err}
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return err
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("%s answered %s", args[0], resp.Status)
	}
	return nil
}
