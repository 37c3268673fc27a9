package main

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"

	"github.com/bakery-ia/tlsgen/pkg/model"
	"sigs.k8s.io/kustomize/api/konfig"
)

// maxInventorySize caps what -f reads: an inventory of a thousand databases
// is about 100 KB, and -f /dev/zero must not eat the memory.
const maxInventorySize = 4 << 20

// project is an inventory with its paths resolved. Paths in the inventory
// are relative to its file, unless absolute.
type project struct {
	file         string // as given with -f
	inv          *model.Inventory
	base, pkiDir string
}

// load reads and validates the inventory and resolves its paths; every
// command that reads an inventory starts here.
func load(file, pkiFlag string) (*project, error) {
	st, err := os.Stat(file)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return nil, invalid("pass the inventory with -f FILE", "%s: no such inventory file", file)
	case err != nil:
		return nil, &inputError{err: err}
	case st.IsDir():
		return nil, invalid("pass the inventory with -f FILE", "%s: is a directory, not an inventory file", file)
	}
	f, err := os.Open(file)
	if err != nil {
		return nil, &inputError{err: err}
	}
	defer f.Close()
	data, err := io.ReadAll(io.LimitReader(f, maxInventorySize+1))
	if err != nil {
		return nil, &inputError{err: fmt.Errorf("%s: %w", file, err)}
	}
	if len(data) > maxInventorySize {
		return nil, invalid("pass the inventory with -f FILE", "%s: larger than %d MiB: not an inventory", file, maxInventorySize>>20)
	}
	inv, err := model.Parse(file, data)
	if err != nil {
		return nil, err
	}
	dir := filepath.Dir(file)
	p := &project{file: file, inv: inv, base: resolve(dir, inv.Base), pkiDir: resolve(dir, inv.PKI.Dir)}
	if pkiFlag != "" {
		p.pkiDir = pkiFlag
	}
	return p, nil
}

// resolve returns p relative to dir, or p itself when it is absolute.
func resolve(dir, p string) string {
	if filepath.IsAbs(p) {
		return filepath.Clean(p)
	}
	return filepath.Join(dir, p)
}

// checkBase refuses a base that is not a kustomize directory.
func (p *project) checkBase() error {
	if st, err := os.Stat(p.base); err != nil || !st.IsDir() {
		return invalid("base is relative to the inventory file", "%s: base: %s is not a directory", p.file, p.base)
	}
	for _, name := range konfig.RecognizedKustomizationFileNames() {
		if _, err := os.Stat(filepath.Join(p.base, name)); err == nil {
			return nil
		}
	}
	return invalid("the base must be a kustomize directory: kustomization.yaml listing its resources",
		"%s: base: %s has no kustomization.yaml", p.file, p.base)
}

// outDir checks -o before anything is written, and returns the directory
// to write, with symlinks resolved: tlsgen replaces the directory as a
// whole, and must replace the one a symlink points at, not the symlink.
//
// tlsgen removes from -o every file it did not render, so -o must not be,
// hold or lie inside the PKI directory (the CA key would go) or the base
// (kustomize would read the overlay as part of its own base), and must not
// be or hold the inventory's directory. A directory beside the inventory,
// such as out/, is the usual place.
func (p *project) outDir(out string) (string, error) {
	const hint = "give -o a directory of its own, such as out/ beside the inventory"
	real, err := realPath(out)
	if err != nil {
		return "", &inputError{err: fmt.Errorf("-o %s: %w", out, err)}
	}
	// The nearest part of the path that exists must be a directory.
	for d := filepath.Clean(out); ; d = filepath.Dir(d) {
		if st, err := os.Stat(d); err == nil {
			switch {
			case st.IsDir():
			case d == filepath.Clean(out):
				return "", invalid("give -o a new or empty directory", "%s: is a file, not a directory", out)
			default:
				return "", invalid("give -o a new or empty directory", "%s: %s is a file, not a directory", out, d)
			}
			break
		}
		if d == filepath.Dir(d) {
			break
		}
	}
	pkiDir, err := realPath(p.pkiDir)
	if err != nil {
		return "", &inputError{err: err}
	}
	base, err := realPath(p.base)
	if err != nil {
		return "", &inputError{err: err}
	}
	invDir, err := realPath(filepath.Dir(p.file))
	if err != nil {
		return "", &inputError{err: err}
	}
	for _, other := range []struct {
		path, what, why string
	}{
		{pkiDir, "the PKI directory " + p.pkiDir, "tlsgen removes from -o what it did not render: the CA key would go"},
		{base, "the base " + p.base, "kustomize would read the overlay as part of its own base"},
	} {
		switch {
		case real == other.path:
			return "", invalid(hint, "-o %s: is %s: %s", out, other.what, other.why)
		case within(other.path, real):
			return "", invalid(hint, "-o %s: holds %s: %s", out, other.what, other.why)
		case within(real, other.path):
			return "", invalid(hint, "-o %s: lies inside %s: %s", out, other.what, other.why)
		}
	}
	if real == invDir || within(invDir, real) {
		return "", invalid(hint, "-o %s: holds the inventory %s: tlsgen removes from -o what it did not render", out, p.file)
	}
	return real, nil
}

// realPath returns p absolute, with the symlinks of the part that exists
// resolved, so that two paths to one directory compare equal.
func realPath(p string) (string, error) {
	abs, err := filepath.Abs(p)
	if err != nil {
		return "", err
	}
	rest := ""
	for {
		if r, err := filepath.EvalSymlinks(abs); err == nil {
			return filepath.Join(r, rest), nil
		}
		parent := filepath.Dir(abs)
		if parent == abs {
			return filepath.Join(abs, rest), nil
		}
		rest = filepath.Join(filepath.Base(abs), rest)
		abs = parent
	}
}

// within reports whether path lies strictly inside dir; both are clean and
// absolute.
func within(path, dir string) bool {
	if dir == string(filepath.Separator) {
		return path != dir
	}
	return strings.HasPrefix(path, dir+string(filepath.Separator))
}
