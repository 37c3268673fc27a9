package main

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/bakery-ia/tlsgen/internal/gen"
	"github.com/bakery-ia/tlsgen/pkg/model"
)

// runWithin runs tlsgen, and fails the test when it has not returned
// within d: a hang is a failure, not a stuck CI.
func runWithin(t *testing.T, d time.Duration, args ...string) (code int, stderr string) {
	t.Helper()
	type result struct {
		code   int
		stderr string
	}
	done := make(chan result, 1)
	go func() {
		var stdout, errs bytes.Buffer
		code := run(args, &stdout, &errs)
		done <- result{code, errs.String()}
	}()
	select {
	case r := <-done:
		return r.code, r.stderr
	case <-time.After(d):
		t.Fatalf("tlsgen %s: still running after %s", strings.Join(args, " "), d)
		return 0, ""
	}
}

// Issue 6, defect 11: the ownership check looks at a file's type before
// opening it, and reads one line of a regular file.
func TestHostileFilesInTheOutputDirectory(t *testing.T) {
	for _, tc := range []struct {
		name  string
		plant func(t *testing.T, out string)
		want  string
	}{
		{
			name: "a named pipe is refused, not opened",
			plant: func(t *testing.T, out string) {
				if err := syscall.Mkfifo(filepath.Join(out, "pipe"), 0o644); err != nil {
					t.Fatal(err)
				}
			},
			want: "holds files tlsgen did not write (pipe)",
		},
		{
			name: "a symlink to /dev/zero is refused, not read",
			plant: func(t *testing.T, out string) {
				if err := os.Symlink("/dev/zero", filepath.Join(out, "zero.yaml")); err != nil {
					t.Fatal(err)
				}
			},
			want: "holds files tlsgen did not write (zero.yaml)",
		},
		{
			name: "a symlink to a file tlsgen wrote is someone else's",
			plant: func(t *testing.T, out string) {
				if err := os.Symlink("kustomization.yaml", filepath.Join(out, "link.yaml")); err != nil {
					t.Fatal(err)
				}
			},
			want: "holds files tlsgen did not write (link.yaml)",
		},
		{
			name: "a huge file of someone else's is refused after its first line",
			plant: func(t *testing.T, out string) {
				f, err := os.Create(filepath.Join(out, "big.yaml"))
				if err != nil {
					t.Fatal(err)
				}
				defer f.Close()
				if err := f.Truncate(1 << 40); err != nil { // sparse: a terabyte of zeros
					t.Fatal(err)
				}
			},
			want: "holds files tlsgen did not write (big.yaml)",
		},
		{
			name: "many foreign files are listed in one short line",
			plant: func(t *testing.T, out string) {
				for i := range 5000 {
					if err := os.WriteFile(filepath.Join(out, "f"+strings.Repeat("x", i%7)+string(rune('a'+i%26))+".txt"), nil, 0o644); err != nil {
						t.Fatal(err)
					}
				}
			},
			want: ", and more); refusing to write there",
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			inv := writeProject(t, dir)
			out := filepath.Join(dir, "out")
			if code, stderr := runWithin(t, 20*time.Second, "render", "-f", inv, "-o", out); code != 0 {
				t.Fatalf("first render: exit %d: %s", code, stderr)
			}
			tc.plant(t, out)
			code, stderr := runWithin(t, 20*time.Second, "render", "-f", inv, "-o", out)
			if code != exitInvalid || !strings.Contains(stderr, tc.want) {
				t.Fatalf("exit %d, stderr:\n%s\nwant exit 2 and %q", code, stderr, tc.want)
			}
			if len(stderr) > 1000 {
				t.Errorf("stderr is %d bytes long", len(stderr))
			}
		})
	}
}

// Issue 6, defect 11: -f reads at most a few MB.
func TestInventoryFromDevZero(t *testing.T) {
	dir := t.TempDir()
	code, stderr := runWithin(t, 20*time.Second, "render", "-f", "/dev/zero", "-o", filepath.Join(dir, "out"))
	if code != exitInvalid || !strings.Contains(stderr, "tlsgen: error: /dev/zero: larger than 4 MiB: not an inventory") {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	if entries, _ := os.ReadDir(dir); len(entries) != 0 {
		t.Errorf("left %v", entries)
	}
}

// Issue 6, defect 2: an absolute pki.dir is the PKI directory, in render
// and in verify; nothing lands in the inventory's directory.
func TestAbsolutePKIDir(t *testing.T) {
	dir := t.TempDir()
	abs := filepath.Join(t.TempDir(), "pki")
	inv := filepath.Join(dir, "inventory.yaml")
	writeProject(t, dir)
	if err := os.WriteFile(inv, gen.YAML(gen.With(func(i *model.Inventory) { i.PKI.Dir = abs })), 0o644); err != nil {
		t.Fatal(err)
	}
	code, stderr := runWithin(t, 20*time.Second, "render", "-f", inv, "-o", filepath.Join(dir, "out"))
	if code != 0 {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	if _, err := os.Stat(filepath.Join(abs, "ca", "ca-key.pem")); err != nil {
		t.Errorf("the CA key is not in the absolute pki.dir: %v", err)
	}
	if !strings.Contains(stderr, "tlsgen: hint: "+abs+"/ca/ca-key.pem is the CA's private key") {
		t.Errorf("the hint does not name the key where it is:\n%s", stderr)
	}
	if entries, _ := os.ReadDir(dir); len(entries) != 3 { // base, inventory.yaml, out
		t.Errorf("the inventory's directory holds %v", entries)
	}
	// verify finds the CA there: it gets as far as dialling.
	code, stderr = runWithin(t, 20*time.Second, "verify", "-f", inv, "--target", "redis=127.0.0.1:1", "--timeout", "2s")
	if code != exitFailed || strings.Contains(stderr, "no CA certificate") {
		t.Errorf("verify: exit %d: %s", code, stderr)
	}
}

// Issue 6, defect 4: loose modes on what tlsgen owns are reported and
// fixed.
func TestLooseModesAreFixed(t *testing.T) {
	dir := t.TempDir()
	inv := writeProject(t, dir)
	out := filepath.Join(dir, "out")
	if code, stderr := runWithin(t, 20*time.Second, "render", "-f", inv, "-o", out); code != 0 {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	tls := filepath.Join(dir, "tls")
	for p, mode := range map[string]os.FileMode{tls: 0o777, filepath.Join(tls, "ca", "ca-key.pem"): 0o644, filepath.Join(tls, "redis", "redis-key.pem"): 0o640} {
		if err := os.Chmod(p, mode); err != nil {
			t.Fatal(err)
		}
	}
	code, stderr := runWithin(t, 20*time.Second, "render", "-f", inv, "-o", out)
	if code != 0 {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	for _, want := range []string{
		"tlsgen: warning: " + tls + ": the PKI directory was 0777, readable by others; set to 0700",
		"tlsgen: warning: " + filepath.Join(tls, "ca", "ca-key.pem") + ": the private key was 0644, readable by others; set to 0600",
		"tlsgen: warning: " + filepath.Join(tls, "redis", "redis-key.pem") + ": the private key was 0640, readable by others; set to 0600",
	} {
		if !strings.Contains(stderr, want) {
			t.Errorf("stderr lacks %q:\n%s", want, stderr)
		}
	}
	for p, want := range map[string]os.FileMode{tls: 0o700, filepath.Join(tls, "ca", "ca-key.pem"): 0o600, filepath.Join(tls, "redis", "redis-key.pem"): 0o600, filepath.Join(tls, "ca", "ca-cert.pem"): 0o644} {
		st, err := os.Stat(p)
		if err != nil {
			t.Fatal(err)
		}
		if st.Mode().Perm() != want {
			t.Errorf("%s: mode %04o, want %04o", p, st.Mode().Perm(), want)
		}
	}
	// Once fixed, nothing more is said.
	if _, stderr := runWithin(t, 20*time.Second, "render", "-f", inv, "-o", out); strings.Contains(stderr, "readable by others") {
		t.Errorf("a second render warns again:\n%s", stderr)
	}
}
