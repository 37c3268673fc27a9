package main

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"github.com/bakery-ia/tlsgen/internal/store"
	"github.com/bakery-ia/tlsgen/pkg/model"
	"github.com/bakery-ia/tlsgen/pkg/pki"
	"github.com/bakery-ia/tlsgen/pkg/render"
	"sigs.k8s.io/kustomize/kyaml/filesys"
)

type renderCmd struct {
	common
	Out         string `short:"o" placeholder:"DIR" help:"Write the overlay tree to DIR. Without it, print the built manifests (kustomize build) to stdout."`
	PKI         string `name:"pki" placeholder:"DIR" help:"The PKI directory; default pki.dir of the inventory."`
	AgeIdentity string `name:"age-identity" placeholder:"FILE" help:"The age identity that decrypts the private keys, when encryption.age is set; default $SOPS_AGE_KEY_FILE or $SOPS_AGE_KEY. Needed only when a key must be read."`
	NewCA       bool   `name:"new-ca" help:"Create a new CA although the overlay's CA bundle trusts another: every client must then trust the new one."`
	Prune       bool   `help:"Remove from the PKI directory the certificates and keys the inventory no longer asks for."`
}

// Run reads the inventory, reconciles the PKI state, renders and builds in
// memory, and only then writes: bad input leaves nothing half-written. The
// overlay is staged beside -o before the PKI changes, so a directory tlsgen
// cannot write stops the render before a key is renewed; the PKI changes as
// one transaction, and the overlay is swapped in last. A crash at any point
// leaves each the old state or the new one, and the next render finishes
// or discards what was left.
func (c *renderCmd) Run(u *ui) (err error) {
	p, err := load(c.File, c.PKI)
	if err != nil {
		return err
	}
	var out string
	if c.Out != "" {
		if out, err = p.outDir(c.Out); err != nil {
			return err
		}
	}
	containers, warnings, err := p.containers()
	if err != nil {
		return err
	}

	// Directories this render created go again if it stops.
	var created []string
	defer func() {
		if err != nil {
			removeEmpty(created)
		}
	}()
	// Locks are taken in one order, the output directory's then the PKI's,
	// so two renders cannot wait for each other. The output directory is
	// locked through its parent: the directory itself is replaced.
	if c.Out != "" {
		unlock, made, err := lockDir(filepath.Dir(out), "the output directory's parent", 0o755)
		if err != nil {
			return err
		}
		defer unlock()
		created = append(created, made...)
		notes, err := store.RecoverTree(writeFS, out)
		for _, n := range notes {
			u.say("%s: %s", c.Out, n)
		}
		if err != nil {
			return writeError("the overlay", c.Out, err)
		}
		if err := checkOwned(out, c.Out); err != nil {
			return err
		}
	}
	unlock, made, err := lockDir(p.pkiDir, "the PKI directory", 0o700)
	if err != nil {
		return err
	}
	defer unlock()
	created = append(created, made...)
	notes, err := store.RecoverPKI(writeFS, p.pkiDir)
	for _, n := range notes {
		u.say("%s: %s", p.pkiDir, n)
	}
	if err != nil {
		return writeError("the PKI directory", p.pkiDir, err)
	}

	ca, reqs := render.Requests(p.inv)
	modeWarnings, err := fixModes(p.pkiDir)
	if err != nil {
		return writeError("the PKI directory", p.pkiDir, err)
	}
	warnings = append(warnings, modeWarnings...)
	keys := &keyring{file: c.AgeIdentity}
	opts, err := pkiOptions(p.inv, keys)
	if err != nil {
		return err
	}
	opts.At = c.At.judge()
	state, err := opts.Reconcile(os.DirFS(p.pkiDir), ca, reqs, time.Now())
	if err != nil {
		return lockedError(p.pkiDir, pkiError(p.pkiDir, err))
	}
	if c.Out != "" && !c.NewCA {
		if err := checkTrust(out, c.Out, p.pkiDir, state); err != nil {
			return err
		}
	}
	stale, pruned, err := pki.Stale(os.DirFS(p.pkiDir), reqs)
	if err != nil {
		return pkiError(p.pkiDir, err)
	}
	for _, name := range stale {
		if c.Prune {
			state.Events = append(state.Events, pki.Event{Name: name, Action: "pruned", Reason: "not in the inventory"})
		} else {
			warnings = append(warnings, fmt.Sprintf("stale: %s: not in the inventory; tlsgen render --prune removes it", name))
		}
	}
	if c.Prune {
		state.Writes = append(state.Writes, pruned...)
	}

	// Without -o the tree is built as if it stood beside the inventory.
	treeDir := out
	if c.Out == "" {
		treeDir = filepath.Join(filepath.Dir(c.File), ".tlsgen-build")
	}
	tree, err := p.renderTree(treeDir, state, containers)
	if err != nil {
		return err
	}
	if err := protectKeys(tree, p.inv, out, keys); err != nil {
		return err
	}
	var built []byte
	var staged *store.Staged
	if c.Out == "" {
		m, err := render.Build(filesys.MakeFsOnDisk(), treeDir, tree)
		if err != nil {
			return fmt.Errorf("building the overlay: %w", err)
		}
		if built, err = m.AsYaml(); err != nil {
			return err
		}
	} else {
		if err := checkTargets(out, c.Out, tree); err != nil {
			return err
		}
		if staged, err = store.StageTree(writeFS, out, treeFiles(tree)); err != nil {
			return writeError("the overlay", c.Out, err)
		}
	}
	for _, w := range append(warnings, state.Warnings...) {
		u.warn(w)
	}
	if err := store.CommitPKI(writeFS, p.pkiDir, pkiFiles(state.Writes)); err != nil {
		staged.Abort()
		return writeError("the PKI directory", p.pkiDir, err)
	}
	created = nil // the PKI directory holds what was issued
	for _, e := range state.Events {
		u.say("%s", e)
		if e.Name == "ca" && e.Action == "created" {
			u.hint(filepath.Join(p.pkiDir, pki.CAKeyFile) + " is the CA's private key: keep it out of the repository the cluster reads, and back it up")
		}
	}
	if c.Out == "" {
		return u.manifests(built)
	}
	if err := staged.Commit(); err != nil {
		return writeError("the overlay", c.Out, err)
	}
	changed, removed := 0, 0
	if staged != nil {
		changed, removed = staged.Changed, staged.Removed
	}
	u.say("%s: %d files, %d changed, %d removed", c.Out, len(tree), changed, removed)
	return nil
}

// containers checks the base for what the overlay relies on, and returns
// the container to patch in each Deployment. The overlay is built only for
// stdout: the base check finds what kustomize would refuse, fast, and the
// tests build every overlay.
func (p *project) containers() (map[string]string, []string, error) {
	if err := p.checkBase(); err != nil {
		return nil, nil, err
	}
	baseDeps, err := render.BaseDeployments(filesys.MakeFsOnDisk(), p.base)
	if err != nil {
		return nil, nil, &inputError{err: fmt.Errorf("%s: base: %w", p.file, err)}
	}
	containers, warnings, err := render.CheckBase(p.inv, baseDeps)
	if err != nil {
		return nil, nil, invalid("the base must hold every Deployment the inventory names, once, with the container to patch, and build with kustomize",
			"%s: base %s: %w", p.file, p.base, err)
	}
	return containers, warnings, nil
}

// renderTree renders the overlay as it would stand at treeDir.
func (p *project) renderTree(treeDir string, state *pki.Result, containers map[string]string) (render.Tree, error) {
	base, err := relSlash(treeDir, p.base)
	if err != nil {
		return nil, err
	}
	return render.Render(render.Input{Inventory: p.inv, PKI: state, Base: base, Containers: containers})
}

// protectKeys encrypts the overlay's Secrets when the inventory asks for
// it, keeping those the overlay in out (when there is one) already holds
// for the same content; without encryption, a Secret whose key is sealed
// and could not be opened stops the render.
func protectKeys(tree render.Tree, inv *model.Inventory, out string, keys *keyring) error {
	if inv.Encryption == nil {
		for _, f := range tree {
			if f.KeyMissing {
				return &inputError{err: fmt.Errorf("%s: needs its private key in plaintext: %s", f.Path, noKey(f.KeyErr)), hint: identityHint}
			}
		}
		return nil
	}
	prev := func(p string) []byte {
		if out == "" {
			return nil
		}
		data, err := os.ReadFile(filepath.Join(out, filepath.FromSlash(p)))
		if err != nil {
			return nil
		}
		return data
	}
	return sealSecrets(tree, prev, inv.Encryption.Age, keys, time.Now())
}

// treeFiles are the overlay's files for the store.
func treeFiles(tree render.Tree) []store.File {
	files := make([]store.File, len(tree))
	for i, f := range tree {
		files[i] = store.File{Path: f.Path, Data: f.Data, Private: f.Private}
	}
	return files
}

func pkiFiles(writes []pki.File) []store.File {
	files := make([]store.File, len(writes))
	for i, f := range writes {
		files[i] = store.File(f)
	}
	return files
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
