package render_test

import (
	"strings"
	"testing"
	"testing/fstest"

	"github.com/bakery-ia/tlsgen/internal/gen"
)

// A file's privacy travels with it: the writer does not guess from a path.
func TestSecretsAreThePrivateFiles(t *testing.T) {
	tree := renderWith(t, gen.Inventory(gen.PerDatabase()), fstest.MapFS{})
	private := 0
	for _, f := range tree {
		holdsKey := strings.Contains(string(f.Data), "kind: Secret")
		if f.Private != holdsKey {
			t.Errorf("%s: Private is %v", f.Path, f.Private)
		}
		if f.Private {
			private++
		}
	}
	if private != 3 { // auth-db-tls, tenant-db-tls, redis-tls
		t.Errorf("%d private files, want 3", private)
	}
}
