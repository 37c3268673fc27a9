package main

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/bakery-ia/tlsgen/internal/gen"
)

// writeProject writes an inventory from gen and a base with its Deployments.
func writeProject(t *testing.T, dir string, opts ...gen.Option) string {
	t.Helper()
	inv := filepath.Join(dir, "inventory.yaml")
	if err := os.WriteFile(inv, gen.YAML(opts...), 0o644); err != nil {
		t.Fatal(err)
	}
	base := filepath.Join(dir, "base")
	if err := os.MkdirAll(base, 0o755); err != nil {
		t.Fatal(err)
	}
	var docs []string
	for _, d := range [][2]string{{"auth-db", "postgres"}, {"tenant-db", "postgres"}, {"redis", "redis"}} {
		docs = append(docs, "apiVersion: apps/v1\nkind: Deployment\nmetadata: {name: "+d[0]+"}\nspec:\n  selector: {matchLabels: {app: "+d[0]+"}}\n  template:\n    metadata: {labels: {app: "+d[0]+"}}\n    spec:\n      containers: [{name: "+d[1]+", image: "+d[1]+"}]\n")
	}
	files := map[string]string{
		"deployments.yaml":   strings.Join(docs, "---\n"),
		"kustomization.yaml": "resources: [deployments.yaml]\n",
	}
	for name, data := range files {
		if err := os.WriteFile(filepath.Join(base, name), []byte(data), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return inv
}

func TestConcurrentRendersCreateOneCA(t *testing.T) {
	dir := t.TempDir()
	inv := writeProject(t, dir)
	const n = 4
	var wg sync.WaitGroup
	stderr := make([]bytes.Buffer, n)
	codes := make([]int, n)
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			var stdout bytes.Buffer
			codes[i] = run([]string{"render", "-f", inv, "-o", filepath.Join(dir, "out")}, &stdout, &stderr[i])
		}()
	}
	wg.Wait()
	created := 0
	for i := range n {
		if codes[i] != 0 {
			t.Errorf("render %d: exit %d: %s", i, codes[i], stderr[i].String())
		}
		created += strings.Count(stderr[i].String(), "created ca")
	}
	if created != 1 {
		t.Errorf("%d renders created a CA; the lock should let exactly one", created)
	}
	// The tree matches the PKI that stayed: a last render changes nothing.
	var stdout, errs bytes.Buffer
	if code := run([]string{"render", "-f", inv, "-o", filepath.Join(dir, "out")}, &stdout, &errs); code != 0 || !strings.Contains(errs.String(), "0 changed") {
		t.Errorf("a render after the race: exit %d, %s", code, errs.String())
	}
}
