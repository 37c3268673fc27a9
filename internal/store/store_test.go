package store

import (
	"errors"
	"os"
	"path/filepath"
	"testing"
)

func TestLegacyTarget(t *testing.T) {
	for name, want := range map[string]string{
		".ca-key.pem.tmp-123456":    "ca-key.pem",
		".kustomization.yaml.tmp-1": "kustomization.yaml",
		"ca-key.pem":                "",
		".ca-key.pem.tmp-":          "",
		".ca-key.pem.tmp-12a":       "",
		".tmp-12":                   "",
	} {
		if got := legacyTarget(name); got != want {
			t.Errorf("legacyTarget(%q) = %q, want %q", name, got, want)
		}
	}
}

// A committed transaction interrupted half-way through its moves, and its
// recovery interrupted too, ends with every file in place.
func TestRedoCanBeInterruptedAndRunAgain(t *testing.T) {
	dir := t.TempDir()
	write := func(p, data string) {
		t.Helper()
		p = filepath.Join(dir, p)
		if err := os.MkdirAll(filepath.Dir(p), 0o700); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(data), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	write("ca/ca-cert.pem", "old cert")
	write("ca/ca-key.pem", "old key")
	write("ca/stale.pem", "to remove")
	// The log as CommitPKI leaves it at its commit point, one file already
	// moved (the certificate) by a render that was then killed.
	write(commitDir+"/ca/ca-key.pem", "new key")
	write(commitDir+"/ca/stale.pem"+deleteSuffix, "")
	write("ca/ca-cert.pem", "new cert")
	notes, err := RecoverPKI(OS{}, dir)
	if err != nil || len(notes) != 1 {
		t.Fatalf("notes %q, err %v", notes, err)
	}
	for p, want := range map[string]string{"ca/ca-cert.pem": "new cert", "ca/ca-key.pem": "new key"} {
		if got, _ := os.ReadFile(filepath.Join(dir, p)); string(got) != want {
			t.Errorf("%s = %q, want %q", p, got, want)
		}
	}
	for _, p := range []string{"ca/stale.pem", commitDir} {
		if _, err := os.Stat(filepath.Join(dir, p)); !errors.Is(err, os.ErrNotExist) {
			t.Errorf("%s is still there", p)
		}
	}
	if notes, err := RecoverPKI(OS{}, dir); err != nil || len(notes) != 0 {
		t.Errorf("a second recovery: notes %q, err %v", notes, err)
	}
}

func TestConcurrentlyReturnsTheFirstError(t *testing.T) {
	errA, errB := errors.New("a"), errors.New("b")
	err := concurrently(100, func(i int) error {
		switch i {
		case 30:
			return errA
		case 70:
			return errB
		}
		return nil
	})
	if err != errA {
		t.Errorf("err = %v, want the error of the lowest index", err)
	}
}
