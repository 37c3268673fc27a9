package render_test

import (
	"bytes"
	"flag"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"testing"
	"time"

	"github.com/bakery-ia/tlsgen/internal/gen"
	"github.com/bakery-ia/tlsgen/pkg/model"
	"github.com/bakery-ia/tlsgen/pkg/pki"
	"github.com/bakery-ia/tlsgen/pkg/render"
	"sigs.k8s.io/kustomize/kyaml/filesys"
)

var update = flag.Bool("update", false, "rewrite the golden files in golden/")

// fixedTime is inside every fixture certificate's validity and outside its
// renewal window: the fixtures were issued at 2026-01-01.
var fixedTime = time.Date(2026, 6, 1, 0, 0, 0, 0, time.UTC)

// The golden cases: the example as the guide has it, and the example in
// perDatabase mode with ECDSA keys and the modern profile. Their PKI
// fixtures were made by `tlsgen render --at 2026-01-01T00:00:00Z --pki
// testdata/pki/NAME` (see testdata/README.md).
var goldenCases = []struct {
	name, inventory, fixtures string
}{
	{"example", "../../examples/inventory.yaml", "testdata/pki/example"},
	{"perdatabase-ecdsa-modern", "testdata/perdatabase.yaml", "testdata/pki/perdatabase"},
}

func TestGolden(t *testing.T) {
	for _, tc := range goldenCases {
		t.Run(tc.name, func(t *testing.T) {
			inv := parseFile(t, tc.inventory)
			state := reconcileFixture(t, inv, tc.fixtures, fixedTime)
			dir := filepath.Join("../../golden", tc.name)
			treeDir := filepath.Join(dir, "tree")
			in := render.Input{Inventory: inv, PKI: state, Base: relBase(t, treeDir, tc.inventory, inv)}

			tree, err := render.Render(in)
			if err != nil {
				t.Fatal(err)
			}
			// Determinism: a second render is byte for byte the first.
			again, err := render.Render(in)
			if err != nil {
				t.Fatal(err)
			}
			if !slices.EqualFunc(tree, again, func(a, b render.File) bool { return a.Path == b.Path && bytes.Equal(a.Data, b.Data) }) {
				t.Fatal("two renders of the same input differ")
			}
			compareTree(t, treeDir, tree)

			built, err := render.Build(filesys.MakeFsOnDisk(), treeDir, tree)
			if err != nil {
				t.Fatal(err)
			}
			yaml, err := built.AsYaml()
			if err != nil {
				t.Fatal(err)
			}
			compareFile(t, filepath.Join(dir, "built.yaml"), yaml)
			checkBuilt(t, inv, filepath.Join(filepath.Dir(tc.inventory), inv.Base), built)
		})
	}
}

func parseFile(t testing.TB, path string) *model.Inventory {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	inv, err := model.Parse(path, data)
	if err != nil {
		t.Fatal(err)
	}
	return inv
}

// reconcileFixture loads committed PKI files and checks that, at now, they
// are all reused: a golden render must not issue anything.
func reconcileFixture(t testing.TB, inv *model.Inventory, dir string, now time.Time) *pki.Result {
	t.Helper()
	fsys, err := gen.FixturePKI(dir)
	if err != nil {
		t.Fatal(err)
	}
	ca, reqs := render.Requests(inv)
	state, err := pki.Reconcile(fsys, ca, reqs, now)
	if err != nil {
		t.Fatal(err)
	}
	if len(state.Events) > 0 || len(state.Writes) > 0 {
		t.Fatalf("the fixtures in %s are not current at %s: %v", dir, now, state.Events)
	}
	return state
}

func relBase(t testing.TB, treeDir, inventory string, inv *model.Inventory) string {
	t.Helper()
	abs := func(p string) string {
		a, err := filepath.Abs(p)
		if err != nil {
			t.Fatal(err)
		}
		return a
	}
	rel, err := filepath.Rel(abs(treeDir), abs(filepath.Join(filepath.Dir(inventory), inv.Base)))
	if err != nil {
		t.Fatal(err)
	}
	return filepath.ToSlash(rel)
}

// compareTree checks that dir holds exactly tree, or rewrites it with -update.
func compareTree(t *testing.T, dir string, tree render.Tree) {
	t.Helper()
	if *update {
		if err := os.RemoveAll(dir); err != nil {
			t.Fatal(err)
		}
	}
	want := map[string]bool{}
	for _, f := range tree {
		want[f.Path] = true
		compareFile(t, filepath.Join(dir, filepath.FromSlash(f.Path)), f.Data)
	}
	filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err == nil && !d.IsDir() {
			rel, _ := filepath.Rel(dir, p)
			if !want[filepath.ToSlash(rel)] {
				t.Errorf("%s: in the golden tree but not rendered", p)
			}
		}
		return nil
	})
}

func compareFile(t *testing.T, path string, got []byte) {
	t.Helper()
	if *update {
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, got, 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Errorf("%v (run go test ./pkg/render -update to write it)", err)
		return
	}
	if !bytes.Equal(got, want) {
		t.Errorf("%s differs from the render:\n%s\nrun go test ./pkg/render -update and review git diff golden/", path, firstDiff(want, got))
	}
}

func firstDiff(want, got []byte) string {
	wl, gl := bytes.Split(want, []byte("\n")), bytes.Split(got, []byte("\n"))
	for i := 0; i < len(wl) || i < len(gl); i++ {
		var w, g []byte
		if i < len(wl) {
			w = wl[i]
		}
		if i < len(gl) {
			g = gl[i]
		}
		if !bytes.Equal(w, g) {
			return "line " + strconv.Itoa(i+1) + ":\n- " + string(w) + "\n+ " + string(g)
		}
	}
	return ""
}
