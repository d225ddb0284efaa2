package activities

import (
	"context"
	"time"

	"go.temporal.io/sdk/activity"
)

// Heartbeats of the activities that run on the workers. Without them, Temporal learns
// that a worker died in the middle of an activity only when the attempt's start-to-close
// timeout ends (30 s for most), and the run waits that long before another worker tries
// again; with them, within the heartbeat timeout.
const (
	// HeartbeatTimeout is the heartbeat timeout the workflows give the gateway, database,
	// file and notification activities: how soon the loss of the worker running one is
	// noticed. The activities heartbeat five times as often (keepAlive, keepAliveWith),
	// whatever they are waiting on.
	HeartbeatTimeout = 5 * time.Second
	// HeartbeatInterval is the longest a worker holds an activity's heartbeat before it
	// sends it to Temporal (the worker's MaxHeartbeatThrottleInterval). The SDK's own
	// interval, 80% of the timeout, would leave one second between a heartbeat sent and
	// the timeout; this leaves four, for a server or a machine under load.
	HeartbeatInterval = time.Second
)

// keepAlive heartbeats until the returned stop is called, so that the loss of the worker
// running the activity is noticed within the heartbeat timeout the workflow gave it, not
// at the end of the attempt. It sends no details: an activity that records its progress
// in heartbeats (Notify) uses keepAliveWith, or its progress would be erased. Outside an
// activity (a direct call), in a local activity (its workflow task is what Temporal
// watches) and without a heartbeat timeout (a run scheduled it before workflows gave one)
// it does nothing.
func keepAlive(ctx context.Context) (stop func()) { return keepAliveWith(ctx, nil) }

// keepAliveWith is keepAlive for an activity that records its progress in heartbeats:
// each heartbeat carries details(), the progress it recorded last, so keeping alive
// never erases it.
func keepAliveWith(ctx context.Context, details func() []any) (stop func()) {
	if !activity.IsActivity(ctx) {
		return func() {}
	}
	info := activity.GetInfo(ctx)
	if info.IsLocalActivity || info.HeartbeatTimeout <= 0 {
		return func() {}
	}
	done, stopped := make(chan struct{}), make(chan struct{})
	go func() {
		defer close(stopped)
		t := time.NewTicker(info.HeartbeatTimeout / 5)
		defer t.Stop()
		for {
			select {
			case <-done:
				return
			case <-ctx.Done():
				return
			case <-t.C:
				if details == nil {
					activity.RecordHeartbeat(ctx)
				} else {
					activity.RecordHeartbeat(ctx, details()...)
				}
			}
		}
	}()
	// No heartbeat leaves after the activity has returned.
	return func() { close(done); <-stopped }
}
