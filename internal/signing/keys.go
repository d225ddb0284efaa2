// Package signing holds the secrets that tie a decision to an identity Flowgate verified:
// the key file, the signatures of decisions (which workers verify, through the
// workflows.Verifier this package's Keys implements), and the signed approval links and
// inbox sessions of the approval pages.
package signing

import (
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"
)

// Keys are the secrets that sign decisions: Flowgate's MCP server (and approval
// pages) sign every decision with the first key; workers verify with any of them, so a
// new key can be put first while the old ones still verify decisions in flight.
type Keys struct {
	keys []key
}

type key struct {
	id     string
	secret []byte
}

// TTL is how long a signed decision stays valid: long enough to reach the
// workflow, short enough that a captured one is soon useless (each is single-use anyway).
const TTL = 5 * time.Minute

// Parse reads a key file: one key per line as "ID SECRET" (SECRET base64, at
// least 32 bytes); the first line signs. Blank lines and lines starting with # are skipped.
func Parse(data []byte) (*Keys, error) {
	k := &Keys{}
	for i, line := range strings.Split(string(data), "\n") {
		line = strings.TrimSpace(line)
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		id, secret, ok := strings.Cut(line, " ")
		raw, err := base64.StdEncoding.DecodeString(strings.TrimSpace(secret))
		if !ok || id == "" || err != nil || len(raw) < 32 {
			return nil, fmt.Errorf("line %d: want \"ID SECRET\" with SECRET base64 of at least 32 bytes (flowgate writes one with --decision-keys on a missing file)", i+1)
		}
		if slices.ContainsFunc(k.keys, func(x key) bool { return x.id == id }) {
			return nil, fmt.Errorf("line %d: key id %q appears twice", i+1, id)
		}
		k.keys = append(k.keys, key{id: id, secret: raw})
	}
	if len(k.keys) == 0 {
		return nil, errors.New("no keys")
	}
	return k, nil
}

// LoadOrCreate reads the key file at path, creating it (mode 0600, one new
// random key) when it does not exist. Processes that start together may both try: the
// file appears whole or not at all, and the one that loses reads the winner's.
func LoadOrCreate(path string) (*Keys, error) {
	data, err := os.ReadFile(path)
	if errors.Is(err, os.ErrNotExist) {
		if err := create(path); err != nil {
			return nil, fmt.Errorf("create decision keys %s: %w", path, err)
		}
		data, err = os.ReadFile(path)
	}
	if err != nil {
		return nil, err
	}
	k, err := Parse(data)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return k, nil
}

func create(path string) error {
	secret := make([]byte, 32)
	if _, err := rand.Read(secret); err != nil {
		return err
	}
	id := time.Now().UTC().Format("20060102")
	data := fmt.Sprintf("# Flowgate decision keys: the first line signs, every line verifies. Keep this file secret;\n# give the same file to every worker and MCP server.\n%s %s\n", id, base64.StdEncoding.EncodeToString(secret))
	dir := filepath.Dir(path)
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return err
	}
	tmp, err := os.CreateTemp(dir, ".decision-keys-*")
	if err != nil {
		return err
	}
	defer os.Remove(tmp.Name())
	_, werr := tmp.WriteString(data)
	if err := errors.Join(werr, tmp.Chmod(0o600), tmp.Sync(), tmp.Close()); err != nil {
		return err
	}
	// A hard link appears atomically and fails when the file exists: another process won.
	if err := os.Link(tmp.Name(), path); err != nil && !errors.Is(err, os.ErrExist) {
		return err
	}
	return nil
}
