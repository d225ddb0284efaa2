package demo

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
)

// sampleFiles are written into a new sandbox so every workflow runs out of the box.
var sampleFiles = map[string]string{
	"manifests/orders.json": `{
  "service": "orders",
  "replicas": 3,
  "image": "registry.example.com/orders",
  "resources": {"cpu": "500m", "memory": "512Mi"},
  "health_check": "/health"
}
`,
	"manifests/users.json": `{
  "service": "users",
  "replicas": 2,
  "image": "registry.example.com/users",
  "resources": {"cpu": "250m", "memory": "256Mi"},
  "health_check": "/health"
}
`,
	"evidence/users.csv": `email,verified_by,verified_on
ada.lovelace@example.com,hr-system,2026-01-06
grace.hopper@example.com,hr-system,2026-01-13
linus.torvalds@example.com,hr-system,2026-01-20
margaret.hamilton@example.com,hr-system,2026-01-27
ghost.user@example.com,hr-system,2026-02-01
ada.lovelace@example.com,manual,2026-02-02
`,
	"evidence/orders.json": `[
  {"reference": "ORD-01001", "invoice": "INV-9001"},
  {"reference": "ORD-01002", "invoice": "INV-9002"},
  {"reference": "ORD-09999", "invoice": "INV-9999"}
]
`,
	"README.txt": "Flowgate's file sandbox. Tools read files below this folder only; audit reports are written to reports/.\n",
}

// SeedSandbox writes the sample files that do not exist yet; it never overwrites.
func SeedSandbox(dir string) error {
	for name, content := range sampleFiles {
		p := filepath.Join(dir, filepath.FromSlash(name))
		if _, err := os.Stat(p); err == nil {
			continue
		} else if !errors.Is(err, fs.ErrNotExist) {
			return fmt.Errorf("sandbox sample %s: %w", p, err)
		}
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			return fmt.Errorf("sandbox sample %s: %w", p, err)
		}
		if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
			return fmt.Errorf("sandbox sample %s: %w", p, err)
		}
	}
	return nil
}
