package main

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/bakery-ia/tlsgen/internal/gen"
)

// The speed goals are whole-process numbers, so these benchmarks run the
// built binary as a user would:
//   - a warm render (PKI present) of the example: under 50 ms;
//   - a warm render of 1,000 databases in perDatabase mode: under 1 s.
// Cold issuance is measured in pkg/pki (BenchmarkColdIssuanceExample).

var (
	binOnce sync.Once
	binPath string
	binErr  error
)

func tlsgenBinary(b *testing.B) string {
	binOnce.Do(func() {
		dir, err := os.MkdirTemp("", "tlsgen-bench-")
		if err != nil {
			binErr = err
			return
		}
		binPath = filepath.Join(dir, "tlsgen")
		out, err := exec.Command("go", "build", "-o", binPath, ".").CombinedOutput()
		if err != nil {
			binErr = fmt.Errorf("go build: %v\n%s", err, out)
		}
	})
	if binErr != nil {
		b.Fatal(binErr)
	}
	return binPath
}

// copyFixturePKI writes a committed PKI fixture to dir with real key armor.
func copyFixturePKI(b testing.TB, from, dir string) {
	fsys, err := gen.FixturePKI(from)
	if err != nil {
		b.Fatal(err)
	}
	for p, f := range fsys {
		dst := filepath.Join(dir, filepath.FromSlash(p))
		if err := os.MkdirAll(filepath.Dir(dst), 0o700); err != nil {
			b.Fatal(err)
		}
		if err := os.WriteFile(dst, f.Data, 0o600); err != nil {
			b.Fatal(err)
		}
	}
}

func benchRender(b *testing.B, args ...string) {
	bin := tlsgenBinary(b)
	render := func() {
		out, err := exec.Command(bin, append([]string{"render"}, args...)...).CombinedOutput()
		if err != nil {
			b.Fatalf("tlsgen render: %v\n%s", err, out)
		}
	}
	render() // the first render writes the tree; the loop measures warm ones
	b.ResetTimer()
	for b.Loop() {
		render()
	}
}

func BenchmarkWarmRenderExample(b *testing.B) {
	dir := b.TempDir()
	copyFixturePKI(b, "../../pkg/render/testdata/pki/example", filepath.Join(dir, "pki"))
	benchRender(b, "-f", "../../examples/inventory.yaml", "--pki", filepath.Join(dir, "pki"),
		"--at", "2026-06-01", "-o", filepath.Join(dir, "out"))
}

func BenchmarkWarmRender1000PerDatabase(b *testing.B) {
	dir := thousandDatabases(b)
	benchRender(b, "-f", filepath.Join(dir, "inventory.yaml"), "-o", filepath.Join(dir, "out"))
}

// BenchmarkStdoutRender1000PerDatabase is `tlsgen render | kubectl apply
// -f -` at 1,000 databases: the whole overlay built, no -o. Goal: seconds.
func BenchmarkStdoutRender1000PerDatabase(b *testing.B) {
	dir := thousandDatabases(b)
	benchRender(b, "-f", filepath.Join(dir, "inventory.yaml"))
}

// thousandDatabases writes a perDatabase inventory of 1,000 databases and
// its base into a new directory.
func thousandDatabases(b *testing.B) string {
	dir := b.TempDir()
	const n = 1000
	inv := gen.YAML(gen.ManyDatabases(n), gen.PerDatabase())
	if err := os.WriteFile(filepath.Join(dir, "inventory.yaml"), inv, 0o644); err != nil {
		b.Fatal(err)
	}
	writeBase(b, filepath.Join(dir, "base"), n)
	return dir
}

// writeBase writes a one-file base of n PostgreSQL Deployments named
// db-0000 on, as gen.ManyDatabases names them, each with its Service and
// its PersistentVolumeClaim (the shape users have: 3,000 objects at 1,000
// databases), and a Redis.
func writeBase(b *testing.B, dir string, n int) {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		b.Fatal(err)
	}
	var docs []string
	deployment := func(name, container, image string) string {
		return fmt.Sprintf(`apiVersion: apps/v1
kind: Deployment
metadata:
  name: %[1]s
spec:
  selector:
    matchLabels: {app: %[1]s}
  template:
    metadata:
      labels: {app: %[1]s}
    spec:
      containers:
      - name: %[2]s
        image: %[3]s
`, name, container, image)
	}
	for i := range n {
		name := fmt.Sprintf("db-%04d", i)
		docs = append(docs, deployment(name, "postgres", "postgres:17-alpine"),
			fmt.Sprintf("apiVersion: v1\nkind: Service\nmetadata:\n  name: %[1]s-service\nspec:\n  selector: {app: %[1]s}\n  ports: [{port: 5432}]\n", name),
			fmt.Sprintf("apiVersion: v1\nkind: PersistentVolumeClaim\nmetadata:\n  name: %[1]s-pvc\nspec:\n  accessModes: [ReadWriteOnce]\n  resources: {requests: {storage: 1Gi}}\n", name))
	}
	docs = append(docs, deployment("redis", "redis", "redis:7-alpine"))
	if err := os.WriteFile(filepath.Join(dir, "deployments.yaml"), []byte(strings.Join(docs, "---\n")), 0o644); err != nil {
		b.Fatal(err)
	}
	k := "apiVersion: kustomize.config.k8s.io/v1beta1\nkind: Kustomization\nresources:\n- deployments.yaml\n"
	if err := os.WriteFile(filepath.Join(dir, "kustomization.yaml"), []byte(k), 0o644); err != nil {
		b.Fatal(err)
	}
}
