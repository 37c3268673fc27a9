package render_test

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/bakery-ia/tlsgen/internal/gen"
	"github.com/bakery-ia/tlsgen/pkg/render"
	"sigs.k8s.io/kustomize/kyaml/filesys"
)

// writeFiles writes files (slash paths) under dir.
func writeFiles(t *testing.T, dir string, files map[string]string) {
	t.Helper()
	for name, data := range files {
		p := filepath.Join(dir, filepath.FromSlash(name))
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(data), 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

// TestCheckBaseRefusesWhatKustomizeRefuses holds CheckBase, which
// `render -o` runs instead of a build, to the build: it fails exactly when
// kustomize refuses the overlay.
func TestCheckBaseRefusesWhatKustomizeRefuses(t *testing.T) {
	service := func(ns string) string {
		return "apiVersion: v1\nkind: Service\nmetadata: {name: auth-db-service, namespace: " + ns + "}\nspec: {ports: [{port: 5432}]}\n"
	}
	tests := []struct {
		name string
		base map[string]string
		want string // in the error; none when empty
	}{
		{"a base that holds the Deployment passes", map[string]string{
			"kustomization.yaml": "resources: [d.yaml]\n",
			"d.yaml":             deployment("auth-db", ""),
		}, ""},
		{"a Deployment whose file sets namespace default passes", map[string]string{
			"kustomization.yaml": "resources: [d.yaml]\n",
			"d.yaml":             deployment("auth-db", "default"),
		}, ""},
		{"a base whose kustomization sets another namespace passes, as the overlay's replaces it", map[string]string{
			"kustomization.yaml": "namespace: staging\nresources: [d.yaml]\n",
			"d.yaml":             deployment("auth-db", ""),
		}, ""},
		{"a Deployment in a DeploymentList is found", map[string]string{
			"kustomization.yaml": "resources: [list.yaml]\n",
			"list.yaml":          "apiVersion: apps/v1\nkind: DeploymentList\nitems:\n- " + strings.ReplaceAll(strings.TrimSpace(deployment("auth-db", "")), "\n", "\n  ") + "\n",
		}, ""},
		{"a Deployment whose file sets the inventory's namespace gets no patch", map[string]string{
			"kustomization.yaml": "resources: [d.yaml]\n",
			"d.yaml":             deployment("auth-db", "bakery-ia"),
		}, `Deployment "auth-db" sets namespace "bakery-ia" in its file, so kustomize finds no target for its patch`},
		{"a Deployment whose file sets another namespace than its kustomization gets no patch", map[string]string{
			"kustomization.yaml": "namespace: bakery-ia\nresources: [d.yaml]\n",
			"d.yaml":             deployment("auth-db", "staging"),
		}, `Deployment "auth-db" sets namespace "staging" in its file`},
		{"two Deployments of one name are refused", map[string]string{
			"kustomization.yaml": "resources: [d.yaml, e.yaml]\n",
			"d.yaml":             deployment("auth-db", ""),
			"e.yaml":             deployment("auth-db", ""),
		}, `Deployment "auth-db" is in the base 2 times: the overlay puts every resource in namespace bakery-ia, where kustomize refuses two of one kind and name`},
		{"two Deployments of one name in two namespaces are refused", map[string]string{
			"kustomization.yaml":   "resources: [d.yaml, e/]\n",
			"d.yaml":               deployment("auth-db", ""),
			"e/kustomization.yaml": "namespace: staging\nresources: [e.yaml]\n",
			"e/e.yaml":             deployment("auth-db", ""),
		}, `Deployment "auth-db" is in the base 2 times`},
		{"two Services of one name in two namespaces are refused", map[string]string{
			"kustomization.yaml": "resources: [d.yaml, s.yaml, t.yaml]\n",
			"d.yaml":             deployment("auth-db", ""),
			"s.yaml":             service("a"),
			"t.yaml":             service("b"),
		}, `Service "auth-db-service" is in the base 2 times`},
		{"a base that kustomize builds for the check is held to the same", map[string]string{
			"kustomization.yaml": "labels: [{pairs: {team: data}}]\nresources: [d.yaml, s.yaml, t.yaml]\n",
			"d.yaml":             deployment("auth-db", ""),
			"s.yaml":             service("a"),
			"t.yaml":             service("b"),
		}, `Service "auth-db-service" is in the base 2 times`},
	}
	inv := gen.Inventory(gen.Databases("auth-db"), gen.NoRedis())
	state := sharedKeyPKI(t, inv)
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			writeFiles(t, filepath.Join(dir, "base"), tc.base)
			fsys := filesys.MakeFsOnDisk()
			base, err := render.BaseDeployments(fsys, filepath.Join(dir, "base"))
			if err != nil {
				t.Fatal(err)
			}
			_, _, err = render.CheckBase(inv, base)
			switch {
			case tc.want == "" && err != nil:
				t.Errorf("CheckBase: %v", err)
			case tc.want != "" && (err == nil || !strings.Contains(err.Error(), tc.want)):
				t.Errorf("CheckBase: %v\nwant %s", err, tc.want)
			}
			tree, err := render.Render(render.Input{Inventory: inv, PKI: state, Base: "../base"})
			if err != nil {
				t.Fatal(err)
			}
			_, buildErr := render.Build(fsys, filepath.Join(dir, ".tlsgen-build"), tree)
			if (buildErr == nil) != (tc.want == "") {
				t.Errorf("kustomize build: %v", buildErr)
			}
		})
	}
}

func TestCheckBaseNamesTheFirstFiveProblemsAndCountsTheRest(t *testing.T) {
	dir := t.TempDir()
	writeFiles(t, dir, map[string]string{
		"kustomization.yaml": "resources: [cm.yaml]\n",
		"cm.yaml":            "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: unrelated}\n",
	})
	base, err := render.BaseDeployments(filesys.MakeFsOnDisk(), dir)
	if err != nil {
		t.Fatal(err)
	}
	_, _, err = render.CheckBase(gen.Inventory(gen.ManyDatabases(1000)), base)
	want := `no Deployment "db-0000"; no Deployment "db-0001"; no Deployment "db-0002"; no Deployment "db-0003"; no Deployment "db-0004"; and 996 more`
	if err == nil || err.Error() != want {
		t.Errorf("CheckBase: %v\nwant %s", err, want)
	}
}
