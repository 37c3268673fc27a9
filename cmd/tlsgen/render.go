package main

import (
	"bytes"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"

	"github.com/bakery-ia/tlsgen/pkg/model"
	"github.com/bakery-ia/tlsgen/pkg/pki"
	"github.com/bakery-ia/tlsgen/pkg/render"
	"sigs.k8s.io/kustomize/kyaml/filesys"
)

type renderCmd struct {
	common
	Out string `short:"o" placeholder:"DIR" help:"Write the overlay tree to DIR. Without it, print the built manifests (kustomize build) to stdout."`
	PKI string `name:"pki" placeholder:"DIR" help:"The PKI directory; default pki.dir of the inventory."`
}

// Run reads the inventory, reconciles the PKI state, renders and builds in
// memory, and only then writes: bad input leaves nothing half-written.
func (c *renderCmd) Run(u *ui) error {
	p, err := load(c.File, c.PKI)
	if err != nil {
		return err
	}
	if c.Out != "" {
		if err := checkOwned(c.Out); err != nil {
			return err
		}
	}
	unlock, created, err := lockDir(p.pkiDir)
	if err != nil {
		return err
	}
	defer unlock()
	done := false
	defer func() {
		if created && !done {
			os.Remove(p.pkiDir) // only if still empty
		}
	}()

	// The overlay is built only for stdout: kustomize's strategic merge
	// costs several times the rest of a render. The base is checked for what
	// the patches need, and the tests build every overlay.
	baseDeps, err := render.BaseDeployments(filesys.MakeFsOnDisk(), p.base)
	if err != nil {
		return &inputError{err: fmt.Errorf("%s: base: %w", c.File, err)}
	}
	warnings, err := render.CheckBase(p.inv, baseDeps)
	if err != nil {
		return invalid("the base must hold every Deployment the inventory names, with the container to patch",
			"%s: base %s: %w", c.File, p.base, err)
	}

	ca, reqs := render.Requests(p.inv)
	state, err := pki.Reconcile(os.DirFS(p.pkiDir), ca, reqs, c.At.now())
	if err != nil {
		return pkiError(p.pkiDir, err)
	}

	// Without -o the tree is built as if it stood beside the inventory.
	out := c.Out
	if out == "" {
		out = filepath.Join(filepath.Dir(c.File), ".tlsgen-build")
	}
	base, err := relSlash(out, p.base)
	if err != nil {
		return err
	}
	tree, err := render.Render(render.Input{Inventory: p.inv, PKI: state, Base: base})
	if err != nil {
		return err
	}
	if c.Out != "" {
		if err := checkTargets(c.Out, tree); err != nil {
			return err
		}
	}
	for _, w := range append(warnings, state.Warnings...) {
		u.warn(w)
	}
	if err := writePKI(p.pkiDir, state.Writes); err != nil {
		return err
	}
	done = true
	for _, e := range state.Events {
		u.say("%s", e)
		if e.Name == "ca" && e.Action == "created" {
			u.hint(filepath.Join(p.pkiDir, pki.CAKeyFile) + " is the CA's private key: keep it out of the repository the cluster reads, and back it up")
		}
	}
	if c.Out == "" {
		built, err := render.Build(filesys.MakeFsOnDisk(), out, tree)
		if err != nil {
			return fmt.Errorf("building the overlay: %w", err)
		}
		yaml, err := built.AsYaml()
		if err != nil {
			return err
		}
		_, err = u.stdout.Write(yaml)
		return err
	}
	changed, removed, err := writeTree(c.Out, tree)
	if err != nil {
		return err
	}
	u.say("%s: %d files, %d changed, %d removed", c.Out, len(tree), changed, removed)
	return nil
}

// project is an inventory with its paths resolved.
type project struct {
	inv          *model.Inventory
	base, pkiDir string
}

// load reads and validates the inventory and checks that its base is a
// kustomization. Paths in the inventory are relative to its file.
func load(file, pkiFlag string) (*project, error) {
	if st, err := os.Stat(file); err == nil && st.IsDir() {
		return nil, invalid("pass the inventory with -f FILE", "%s: is a directory, not an inventory file", file)
	}
	data, err := os.ReadFile(file)
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return nil, invalid("pass the inventory with -f FILE", "%s: no such inventory file", file)
		}
		return nil, &inputError{err: err}
	}
	inv, err := model.Parse(file, data)
	if err != nil {
		return nil, err
	}
	dir := filepath.Dir(file)
	p := &project{inv: inv, base: filepath.Join(dir, inv.Base), pkiDir: filepath.Join(dir, inv.PKI.Dir)}
	if pkiFlag != "" {
		p.pkiDir = pkiFlag
	}
	if st, err := os.Stat(p.base); err != nil || !st.IsDir() {
		return nil, invalid("base is relative to the inventory file", "%s: base: %s is not a directory", file, p.base)
	}
	found := false
	for _, name := range []string{"kustomization.yaml", "kustomization.yml", "Kustomization"} {
		if _, err := os.Stat(filepath.Join(p.base, name)); err == nil {
			found = true
		}
	}
	if !found {
		return nil, invalid("the base must be a kustomize directory: kustomization.yaml listing its resources",
			"%s: base: %s has no kustomization.yaml", file, p.base)
	}
	return p, nil
}

// pkiError puts the PKI directory in front of a file the PKI could not use.
func pkiError(dir string, err error) error {
	var fe *pki.FileError
	if errors.As(err, &fe) {
		return &inputError{err: fmt.Errorf("%s: %w", filepath.Join(dir, fe.Path), fe.Err)}
	}
	return err
}

func relSlash(from, to string) (string, error) {
	absFrom, err := filepath.Abs(from)
	if err != nil {
		return "", err
	}
	absTo, err := filepath.Abs(to)
	if err != nil {
		return "", err
	}
	rel, err := filepath.Rel(absFrom, absTo)
	if err != nil {
		return "", err
	}
	return filepath.ToSlash(rel), nil
}

// ownedBy reports whether data is a file tlsgen wrote.
func ownedBy(data []byte) bool { return bytes.HasPrefix(data, []byte(render.Header)) }
