package store

import (
	"bytes"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
)

// Staged is a complete overlay tree written beside the directory it is to
// replace, ready to be swapped in.
type Staged struct {
	fsys     FS
	dir, new string
	// Changed and Removed count the files that differ from dir's.
	Changed, Removed int
}

// The siblings of an overlay directory "out": the next tree while it is
// being written, and the previous one while the swap falls back to two
// renames. Both start with a dot and are removed by RecoverTree.
func siblings(dir string) (next, prev string) {
	parent, base := filepath.Split(filepath.Clean(dir))
	return filepath.Join(parent, "."+base+".tlsgen-new"), filepath.Join(parent, "."+base+".tlsgen-old")
}

// StageTree writes files, as the complete content of dir, into a sibling
// directory of dir, durably. Files that did not change are hard links to
// dir's. It returns nil when dir already holds exactly files: there is
// nothing to swap. dir's parent must exist and be locked by the caller, and
// dir hold only files tlsgen wrote.
func StageTree(fsys FS, dir string, files []File) (_ *Staged, err error) {
	have, err := regularFiles(dir)
	if err != nil {
		return nil, err
	}
	s := &Staged{fsys: fsys, dir: dir}
	same, want := map[string]bool{}, map[string]bool{}
	for _, f := range files {
		want[f.Path] = true
		if old, ok := have[f.Path]; ok {
			data, err := os.ReadFile(old)
			if err != nil {
				return nil, err
			}
			if bytes.Equal(data, f.Data) {
				same[f.Path] = true
				continue
			}
		}
		s.Changed++
	}
	for p := range have {
		if !want[p] {
			s.Removed++
		}
	}
	if s.Changed == 0 && s.Removed == 0 {
		return nil, nil
	}

	s.new, _ = siblings(dir)
	if err := fsys.RemoveAll(s.new); err != nil {
		return nil, err
	}
	defer func() {
		if err != nil {
			fsys.RemoveAll(s.new) // best effort; RecoverTree removes it anyway
		}
	}()
	if err := fsys.Mkdir(s.new, 0o755); err != nil {
		return nil, err
	}
	// The directories first, one by one; then the files, several at once.
	dirs := map[string]bool{s.new: true}
	for _, f := range files {
		if d := filepath.Dir(filepath.Join(s.new, filepath.FromSlash(f.Path))); !dirs[d] {
			if err := mkdirAll(fsys, d, 0o755); err != nil {
				return nil, err
			}
			for ; !dirs[d]; d = filepath.Dir(d) {
				dirs[d] = true
			}
		}
	}
	err = concurrently(len(files), func(i int) error {
		f := files[i]
		p := filepath.Join(s.new, filepath.FromSlash(f.Path))
		if same[f.Path] {
			if err := fsys.Link(have[f.Path], p); err == nil {
				return nil
			}
			// A file system without hard links: write the bytes again.
		}
		return fsys.WriteFile(p, f.Data, f.mode())
	})
	if err != nil {
		return nil, err
	}
	if err := fsys.SyncFS(s.new); err != nil {
		return nil, err
	}
	return s, nil
}

// Commit swaps the staged tree in: one atomic exchange of the two
// directories where the file system can, else two renames that RecoverTree
// rolls back when interrupted between them. The previous tree is removed.
func (s *Staged) Commit() error {
	if s == nil {
		return nil
	}
	parent := filepath.Dir(s.dir)
	_, prev := siblings(s.dir)
	if !exists(s.dir) {
		if err := s.fsys.Rename(s.new, s.dir); err != nil {
			return err
		}
		return s.fsys.SyncDir(parent)
	}
	err := s.fsys.Exchange(s.new, s.dir)
	switch {
	case err == nil:
		prev = s.new // the previous tree now stands where the new one was
	case errors.Is(err, errors.ErrUnsupported):
		if err := s.fsys.Rename(s.dir, prev); err != nil {
			return err
		}
		if err := s.fsys.Rename(s.new, s.dir); err != nil {
			return err
		}
	default:
		return err
	}
	if err := s.fsys.SyncDir(parent); err != nil {
		return err
	}
	return s.fsys.RemoveAll(prev)
}

// Abort removes the staged tree; dir is left as it was.
func (s *Staged) Abort() {
	if s != nil {
		s.fsys.RemoveAll(s.new)
	}
}

// RecoverTree cleans up after a render that was killed while writing dir:
// it puts the previous tree back when a swap stopped half-way, removes an
// unfinished or superseded sibling tree, and removes the temporary files
// earlier versions of tlsgen left inside dir. It returns what it did. dir's
// parent must be locked by the caller.
func RecoverTree(fsys FS, dir string) (notes []string, err error) {
	next, prev := siblings(dir)
	if !exists(dir) && exists(prev) {
		if err := fsys.Rename(prev, dir); err != nil {
			return notes, err
		}
		notes = append(notes, "put back the previous overlay, which an interrupted render had moved aside")
	}
	for _, p := range []string{next, prev} {
		if exists(p) {
			if err := fsys.RemoveAll(p); err != nil {
				return notes, err
			}
			notes = append(notes, fmt.Sprintf("removed %s, left by an interrupted render", filepath.Base(p)))
		}
	}
	legacy, err := legacyTemps(dir)
	if err != nil {
		return notes, err
	}
	for _, p := range legacy {
		if err := fsys.Remove(p); err != nil {
			return notes, err
		}
		rel, _ := filepath.Rel(dir, p)
		notes = append(notes, fmt.Sprintf("removed %s, left by an interrupted render", filepath.ToSlash(rel)))
	}
	return notes, nil
}

// IsLeftover reports whether name, a file in an overlay directory, is a
// temporary file an interrupted render of an earlier tlsgen left there.
func IsLeftover(name string) bool { return legacyTarget(filepath.Base(name)) != "" }

// ReadTree reads the regular files under dir, by slash-separated relative
// path: what check compares with a render. A missing dir has none.
func ReadTree(dir string) (map[string][]byte, error) {
	paths, err := regularFiles(dir)
	if err != nil {
		return nil, err
	}
	out := make(map[string][]byte, len(paths))
	for rel, p := range paths {
		if out[rel], err = os.ReadFile(p); err != nil {
			return nil, err
		}
	}
	return out, nil
}

// regularFiles lists dir's regular files by slash-separated relative path.
// A missing dir has none.
func regularFiles(dir string) (map[string]string, error) {
	out := map[string]string{}
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			if errors.Is(err, fs.ErrNotExist) && p == dir {
				return fs.SkipAll
			}
			return err
		}
		if d.Type().IsRegular() {
			rel, _ := filepath.Rel(dir, p)
			out[filepath.ToSlash(rel)] = p
		}
		return nil
	})
	return out, err
}
