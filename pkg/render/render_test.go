package render_test

import (
	"bytes"
	"strings"
	"testing"
	"testing/fstest"

	"github.com/bakery-ia/tlsgen/internal/gen"
	"github.com/bakery-ia/tlsgen/pkg/model"
	"github.com/bakery-ia/tlsgen/pkg/pki"
	"github.com/bakery-ia/tlsgen/pkg/render"
)

// renderWith issues (or reuses) the PKI for inv in fsys at fixedTime and renders.
func renderWith(t *testing.T, inv *model.Inventory, fsys fstest.MapFS) render.Tree {
	t.Helper()
	ca, reqs := render.Requests(inv)
	state, err := pki.Reconcile(fsys, ca, reqs, fixedTime)
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range state.Writes {
		fsys[f.Path] = &fstest.MapFile{Data: f.Data}
	}
	tree, err := render.Render(render.Input{Inventory: inv, PKI: state, Base: "../base"})
	if err != nil {
		t.Fatal(err)
	}
	return tree
}

func paths(tree render.Tree) string {
	var p []string
	for _, f := range tree {
		p = append(p, f.Path)
	}
	return strings.Join(p, " ")
}

func TestReorderingDatabasesChangesNothing(t *testing.T) {
	fsys := fstest.MapFS{}
	a := renderWith(t, gen.Inventory(gen.Databases("auth-db", "tenant-db", "pos-db")), fsys)
	b := renderWith(t, gen.Inventory(gen.Databases("pos-db", "auth-db", "tenant-db")), fsys)
	if paths(a) != paths(b) {
		t.Fatalf("trees differ:\n%s\n%s", paths(a), paths(b))
	}
	for i := range a {
		if !bytes.Equal(a[i].Data, b[i].Data) {
			t.Errorf("%s differs when the databases are listed in another order", a[i].Path)
		}
	}
}

func TestDroppingADatabaseDropsItsFiles(t *testing.T) {
	fsys := fstest.MapFS{}
	before := renderWith(t, gen.Inventory(gen.PerDatabase(), gen.Databases("auth-db", "tenant-db")), fsys)
	after := renderWith(t, gen.Inventory(gen.PerDatabase(), gen.Databases("auth-db")), fsys)
	for _, p := range []string{"patches/tenant-db.yaml", "secrets/tenant-db-tls.yaml"} {
		if before.Get(p) == nil || after.Get(p) != nil {
			t.Errorf("%s: rendered before %v, after %v", p, before.Get(p) != nil, after.Get(p) != nil)
		}
	}
	if k := string(after.Get("kustomization.yaml")); strings.Contains(k, "tenant-db") {
		t.Errorf("the kustomization still names tenant-db:\n%s", k)
	}
	// Everything else is untouched: the diff shows only the dropped database.
	for _, f := range after {
		if f.Path != "kustomization.yaml" && !bytes.Equal(f.Data, before.Get(f.Path)) {
			t.Errorf("%s changed when another database was dropped", f.Path)
		}
	}
}

func TestANewCertificateRollsOnlyThePodsThatUseIt(t *testing.T) {
	fsys := fstest.MapFS{}
	inv := gen.Inventory(gen.PerDatabase(), gen.Databases("auth-db", "tenant-db"))
	before := renderWith(t, inv, fsys)
	delete(fsys, "postgres/auth-db/server-cert.pem") // re-issued at the next render
	after := renderWith(t, inv, fsys)

	changed := map[string]bool{}
	for _, f := range after {
		if !bytes.Equal(f.Data, before.Get(f.Path)) {
			changed[f.Path] = true
		}
	}
	if len(changed) != 2 || !changed["secrets/auth-db-tls.yaml"] || !changed["patches/auth-db.yaml"] {
		t.Errorf("changed %v; want the auth-db Secret and its patch (a new checksum) only", changed)
	}
	if !bytes.Contains(after.Get("patches/auth-db.yaml"), []byte(render.ChecksumKey)) {
		t.Error("the patch has no checksum annotation")
	}
}

func TestCertificateNames(t *testing.T) {
	tests := []struct {
		name string
		inv  *model.Inventory
		want map[string]string
	}{
		{"shared mode keeps the guide's wildcard and adds every service name", gen.Inventory(gen.Databases("auth-db", "pos-db")), map[string]string{
			"postgres": "*.bakery-ia.svc.cluster.local auth-db-service auth-db-service.bakery-ia auth-db-service.bakery-ia.svc auth-db-service.bakery-ia.svc.cluster.local " +
				"pos-db-service pos-db-service.bakery-ia pos-db-service.bakery-ia.svc pos-db-service.bakery-ia.svc.cluster.local localhost",
			"redis": "redis-service redis-service.bakery-ia redis-service.bakery-ia.svc redis-service.bakery-ia.svc.cluster.local localhost",
		}},
		{"perDatabase mode lists each database's own names", gen.Inventory(gen.PerDatabase(), gen.Databases("auth-db"), gen.NoRedis(),
			gen.With(func(inv *model.Inventory) {
				inv.ClusterDomain = "k8s.example"
				inv.Postgres.Databases[0].Service = "auth"
			})), map[string]string{
			"postgres/auth-db": "auth auth.bakery-ia auth.bakery-ia.svc auth.bakery-ia.svc.k8s.example localhost",
		}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, reqs := render.Requests(tc.inv)
			got := map[string]string{}
			for _, r := range reqs {
				got[r.Name] = strings.Join(r.DNSNames, " ")
			}
			for name, want := range tc.want {
				if got[name] != want {
					t.Errorf("%s:\n got %s\nwant %s", name, got[name], want)
				}
			}
			if len(got) != len(tc.want) {
				t.Errorf("certificates %v, want %d", got, len(tc.want))
			}
		})
	}
}

func TestPostgresConfiguration(t *testing.T) {
	tests := []struct {
		name     string
		inv      *model.Inventory
		want     []string
		wantNone []string
	}{
		{"the intermediate profile allows TLS 1.2 with Mozilla's ciphers", gen.Inventory(), []string{
			"ssl = on", "ssl_min_protocol_version = 'TLSv1.2'", "ssl_ciphers = 'ECDHE-ECDSA-AES128-GCM-SHA256:",
			"hba_file = '/etc/postgresql/pg_hba.conf'", "hostssl    all       all   all      scram-sha-256", "hostnossl  all       all   all      reject",
		}, []string{"3DES", "\nhost "}},
		{"the modern profile allows TLS 1.3 only", gen.Inventory(gen.Profile(model.Modern)), []string{"ssl_min_protocol_version = 'TLSv1.3'"}, []string{"TLSv1.2"}},
		{"a cipher override is used as given", gen.Inventory(gen.With(func(inv *model.Inventory) { inv.TLS.Ciphers = "HIGH:MEDIUM:+3DES:!aNULL" })),
			[]string{"ssl_ciphers = 'HIGH:MEDIUM:+3DES:!aNULL'"}, nil},
		{"a Debian image gets uid 999", gen.Inventory(gen.With(func(inv *model.Inventory) { inv.Postgres.Image = "postgres:17" })),
			[]string{"chown 999:999 /tls/server-cert.pem", "fsGroup: 999"}, []string{"70:70"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			tree := renderWith(t, tc.inv, fstest.MapFS{})
			all := string(tree.Get("configmaps/postgres-tls-config.yaml")) + string(tree.Get("patches/auth-db.yaml"))
			for _, w := range tc.want {
				if !strings.Contains(all, w) {
					t.Errorf("no %q in:\n%s", w, all)
				}
			}
			for _, w := range tc.wantNone {
				if strings.Contains(all, w) {
					t.Errorf("%q should not be there:\n%s", w, all)
				}
			}
		})
	}
}

func TestPatchesNeverTouchTheSelector(t *testing.T) {
	// A zero-filled Deployment marshals "selector: null", and kustomize then
	// deletes the base's selector without an error.
	for _, f := range renderWith(t, gen.Inventory(), fstest.MapFS{}) {
		if strings.HasPrefix(f.Path, "patches/") && bytes.Contains(f.Data, []byte("selector")) {
			t.Errorf("%s mentions a selector:\n%s", f.Path, f.Data)
		}
	}
}

func TestEveryFileStartsWithTheHeader(t *testing.T) {
	for _, f := range renderWith(t, gen.Inventory(), fstest.MapFS{}) {
		if !bytes.HasPrefix(f.Data, []byte(render.Header)) {
			t.Errorf("%s does not start with the generated-file header", f.Path)
		}
	}
}
