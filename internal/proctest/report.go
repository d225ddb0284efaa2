package proctest

import (
	"encoding/xml"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"time"
)

// Find lists the test files of paths: a file as given, a folder's *.test.yaml files at
// any depth, sorted.
func Find(paths []string) ([]string, error) {
	var out []string
	for _, p := range paths {
		info, err := os.Stat(p)
		if err != nil {
			return nil, err
		}
		if !info.IsDir() {
			out = append(out, p)
			continue
		}
		err = filepath.WalkDir(p, func(path string, d fs.DirEntry, err error) error {
			if err == nil && !d.IsDir() && strings.HasSuffix(path, Suffix) {
				out = append(out, path)
			}
			return err
		})
		if err != nil {
			return nil, err
		}
	}
	slices.Sort(out)
	return slices.Compact(out), nil
}

// Report is what a set of test files came to.
type Report struct {
	Files   []*File
	Results []Result
	// Errors are the test files refused (file:line).
	Errors   []error
	Duration time.Duration
}

// Failed counts the cases that failed and the files refused.
func (r Report) Failed() int {
	n := len(r.Errors)
	for _, res := range r.Results {
		if !res.Passed() {
			n++
		}
	}
	return n
}

// Passed counts the cases that passed.
func (r Report) Passed() int {
	n := 0
	for _, res := range r.Results {
		if res.Passed() {
			n++
		}
	}
	return n
}

// RunFiles loads and runs the test files of paths; match, when set, picks the cases by
// name.
func RunFiles(paths []string, match *regexp.Regexp) (Report, error) {
	start := time.Now()
	files, err := Find(paths)
	if err != nil {
		return Report{}, err
	}
	var rep Report
	for _, path := range files {
		f, err := Load(path)
		if err != nil {
			rep.Errors = append(rep.Errors, err)
			continue
		}
		rep.Files = append(rep.Files, f)
		rep.Results = append(rep.Results, f.Run(match)...)
	}
	rep.Duration = time.Since(start)
	return rep, nil
}

// Write writes the report as people read it: a line per case, what differs under each
// failure, and the closing count.
func (r Report) Write(w io.Writer) {
	for _, err := range r.Errors {
		fmt.Fprintf(w, "FAIL %s\n", indentLines(err.Error(), "     "))
	}
	for _, res := range r.Results {
		if res.Passed() {
			fmt.Fprintf(w, "ok   %s: %s (%s)\n", res.File, res.Case, ms(res.Duration))
			continue
		}
		fmt.Fprintf(w, "FAIL %s:%d: %s (%s)\n", res.File, res.Line, res.Case, ms(res.Duration))
		for _, p := range res.Problems {
			fmt.Fprintf(w, "     %s\n", indentLines(p, "     "))
		}
	}
	fmt.Fprintf(w, "%d passed, %d failed (%s)\n", r.Passed(), r.Failed(), ms(r.Duration))
}

func ms(d time.Duration) string { return d.Round(time.Millisecond).String() }

func indentLines(s, prefix string) string {
	return strings.ReplaceAll(s, "\n", "\n"+prefix)
}

// WriteJUnit writes the report as JUnit XML, a test suite per test file, for CI.
func (r Report) WriteJUnit(w io.Writer) error {
	type failure struct {
		Message string `xml:"message,attr"`
		Text    string `xml:",chardata"`
	}
	type testcase struct {
		Name      string   `xml:"name,attr"`
		Classname string   `xml:"classname,attr"`
		Time      string   `xml:"time,attr"`
		Failure   *failure `xml:"failure,omitempty"`
	}
	type suite struct {
		Name     string     `xml:"name,attr"`
		Tests    int        `xml:"tests,attr"`
		Failures int        `xml:"failures,attr"`
		Cases    []testcase `xml:"testcase"`
	}
	type suites struct {
		XMLName xml.Name `xml:"testsuites"`
		Suites  []suite  `xml:"testsuite"`
	}
	var out suites
	byFile := map[string]int{}
	add := func(file string, tc testcase) {
		i, ok := byFile[file]
		if !ok {
			i = len(out.Suites)
			byFile[file] = i
			out.Suites = append(out.Suites, suite{Name: file})
		}
		s := &out.Suites[i]
		s.Tests++
		if tc.Failure != nil {
			s.Failures++
		}
		s.Cases = append(s.Cases, tc)
	}
	for _, err := range r.Errors {
		add("refused", testcase{Name: "load", Classname: "refused", Failure: &failure{Message: "the test file is refused", Text: err.Error()}})
	}
	for _, res := range r.Results {
		tc := testcase{Name: res.Case, Classname: res.File, Time: fmt.Sprintf("%.3f", res.Duration.Seconds())}
		if !res.Passed() {
			tc.Failure = &failure{Message: fmt.Sprintf("%d expectations differ", len(res.Problems)), Text: strings.Join(res.Problems, "\n")}
		}
		add(res.File, tc)
	}
	if _, err := io.WriteString(w, xml.Header); err != nil {
		return err
	}
	enc := xml.NewEncoder(w)
	enc.Indent("", "  ")
	if err := enc.Encode(out); err != nil {
		return err
	}
	_, err := io.WriteString(w, "\n")
	return err
}

// Cover lists, per definition, what no case reached: steps, the branches of when
// (a step never run, or never skipped), gates never decided, and compensations never run.
func (r Report) Cover(w io.Writer) {
	for _, f := range r.Files {
		var ran, skipped, comp []string
		for _, res := range r.Results {
			if res.File != f.Path {
				continue
			}
			ran = append(ran, res.Reached.Steps...)
			skipped = append(skipped, res.Reached.Skipped...)
			comp = append(comp, res.Reached.Compensated...)
		}
		var missing []string
		for _, s := range f.Process.Steps {
			kind := "step"
			if s.Approval != nil {
				kind = "gate"
			}
			if !slices.Contains(ran, s.Name) {
				what := kind + " " + s.Name + " never ran"
				if s.When != "" {
					what = fmt.Sprintf("%s %s: when %s was never true", kind, s.Name, s.When)
				}
				missing = append(missing, what)
			}
			if s.When != "" && !slices.Contains(skipped, s.Name) {
				missing = append(missing, fmt.Sprintf("%s %s: when %s was never false", kind, s.Name, s.When))
			}
			if s.Compensate != nil && !slices.Contains(comp, s.Name) {
				missing = append(missing, "compensation of "+s.Name+" never ran")
			}
		}
		if len(missing) == 0 {
			fmt.Fprintf(w, "cover %s: every step, branch, gate and compensation reached\n", f.DefPath)
			continue
		}
		fmt.Fprintf(w, "cover %s: %d not reached\n", f.DefPath, len(missing))
		for _, m := range missing {
			fmt.Fprintf(w, "     %s\n", m)
		}
	}
}

// ErrFailed is returned when a case failed or a test file was refused.
var ErrFailed = errors.New("some cases failed")
