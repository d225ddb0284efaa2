package proctest_test

import (
	"os"
	"reflect"
	"regexp"
	"strings"
	"testing"

	"github.com/flowgate/flowgate/internal/proctest"
)

// TestTestingDocsShowEveryScriptField keeps docs/testing.md's script section in step with
// ScriptStep: a field a test file may hold that its example never shows or names is one
// nobody finds.
func TestTestingDocsShowEveryScriptField(t *testing.T) {
	doc, err := os.ReadFile("../../docs/testing.md")
	if err != nil {
		t.Fatal(err)
	}
	_, section, ok := strings.Cut(string(doc), "\n### script\n")
	if !ok {
		t.Fatal("docs/testing.md has no ### script section")
	}
	section, _, _ = strings.Cut(section, "\n### ")
	st := reflect.TypeOf(proctest.ScriptStep{})
	for i := range st.NumField() {
		f := st.Field(i)
		name, _, _ := strings.Cut(f.Tag.Get("yaml"), ",")
		if !f.IsExported() || name == "" || name == "-" {
			continue
		}
		// A key of the example, or a word of its comments ("# or reject, request_changes, …").
		shown := regexp.MustCompile(`(?m)^\s+(- )?` + name + `:|#[^\n]*\b` + name + `,`)
		if !shown.MatchString(section) {
			t.Errorf("docs/testing.md's script example does not show %s:", name)
		}
	}
}
