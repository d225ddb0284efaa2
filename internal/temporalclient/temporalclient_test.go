package temporalclient

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/flowgate/flowgate/internal/freeport"
)

// TestAnUnreachableServerIsNamedWithHowToSetIt: a dial that reaches no Temporal fails
// with a sentence naming the address, the namespace and the setting
// that changes them, not a bare gRPC error.
func TestAnUnreachableServerIsNamedWithHowToSetIt(t *testing.T) {
	port, err := freeport.Port("127.0.0.1")
	if err != nil {
		t.Fatal(err)
	}
	addr := fmt.Sprintf("127.0.0.1:%d", port)
	_, err = Dial(context.Background(), Config{HostPort: addr, Namespace: "nowhere", Timeout: 2 * time.Second})
	if err == nil {
		t.Fatal("dialled a port where nothing listens")
	}
	for _, want := range []string{"cannot reach Temporal at " + addr, "(namespace nowhere)", "TEMPORAL_ADDRESS or --temporal-address"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q does not say %q", err, want)
		}
	}
}
