// Package e2e holds Flowgate's integration tests: each runs against a real Temporal server
// embedded in the test process (internal/testenv), real processes where a test is about
// processes, and real MCP clients.
package e2e

import (
	"testing"

	"github.com/flowgate/flowgate/internal/testenv"
)

func TestMain(m *testing.M) { testenv.Main(m) }
