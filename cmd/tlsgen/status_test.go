package main

import (
	"bytes"
	"os"
	"path/filepath"
	"testing"
)

// The JSON of status is for scripts and monitoring: its field names are a
// promise. The example's fixture PKI, judged at a fixed time, is compared
// with golden/status/example.json; -update rewrites it.
func TestStatusJSONGolden(t *testing.T) {
	dir := t.TempDir()
	copyFixturePKI(t, "../../pkg/render/testdata/pki/example", filepath.Join(dir, "pki"))
	var stdout, stderr bytes.Buffer
	code := run([]string{"status", "-f", "../../examples/inventory.yaml", "--pki", filepath.Join(dir, "pki"), "--at", "2027-06-01T00:00:00Z", "--json"}, &stdout, &stderr)
	if code != 0 {
		t.Fatalf("exit %d: %s", code, stderr.String())
	}
	golden := "../../golden/status/example.json"
	if *update {
		if err := os.MkdirAll(filepath.Dir(golden), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(golden, stdout.Bytes(), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(golden)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(stdout.Bytes(), want) {
		t.Errorf("status --json differs from %s (go test ./cmd/tlsgen -run StatusJSON -update, and review the diff):\n%s", golden, stdout.String())
	}
}
