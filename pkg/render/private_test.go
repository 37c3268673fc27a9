package render_test

import (
	corev1 "k8s.io/api/core/v1"
	"sigs.k8s.io/yaml"
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

// A Secret says in its annotations which certificate it holds, so that a
// pull request's diff does; a shared certificate's long list of names is
// cut short.
func TestSecretsDescribeTheirCertificate(t *testing.T) {
	tree := renderWith(t, gen.Inventory(gen.ManyDatabases(300)), fstest.MapFS{})
	var s corev1.Secret
	if err := yaml.Unmarshal(tree.Get("secrets/postgres-tls.yaml"), &s); err != nil {
		t.Fatal(err)
	}
	a := s.Annotations
	for _, k := range []string{"tlsgen.dev/checksum", "tlsgen.dev/not-after", "tlsgen.dev/sha256-fingerprint", "tlsgen.dev/key-type", "tlsgen.dev/issuer"} {
		if a[k] == "" {
			t.Errorf("annotation %s missing: %v", k, a)
		}
	}
	if n := a["tlsgen.dev/dns-names"]; len(n) > 4200 || !strings.HasPrefix(n, "*.bakery-ia.svc.cluster.local,db-0000-service,") || !strings.Contains(n, " more") {
		t.Errorf("dns-names: %d bytes: %.200s", len(n), n)
	}
	if a["tlsgen.dev/key-type"] != "ecdsa-p256" || a["tlsgen.dev/issuer"] != "Test CA" {
		t.Errorf("key type %s, issuer %s", a["tlsgen.dev/key-type"], a["tlsgen.dev/issuer"])
	}
}
