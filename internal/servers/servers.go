// Package servers starts real PostgreSQL and Redis servers for tests, on
// 127.0.0.1 and free ports, in temporary directories, and stops them by PID
// when the test ends, even when it fails. A missing server binary fails the
// test: .ci/run installs them, and a test that skips in CI proves nothing.
package servers

import (
	"bufio"
	"fmt"
	"net"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// ReadyTimeout bounds how long a server may take to accept connections.
const ReadyTimeout = 20 * time.Second

const installHint = ".ci/run installs it (apt-get install postgresql-15 redis-server redis-tools)"

// FreePort returns a TCP port on 127.0.0.1 that nothing listens on now.
func FreePort(t testing.TB) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

// Account is the user a server runs as.
type Account struct {
	UID, GID int
	// Credential is set when the test runs as root: PostgreSQL refuses to
	// run as root, so it runs as the postgres system user.
	Credential *syscall.Credential
}

// PostgresAccount returns the user PostgreSQL runs as: the postgres
// system user when the test runs as root (as CI does), else the current
// user.
func PostgresAccount(t testing.TB) Account {
	t.Helper()
	if os.Geteuid() != 0 {
		return Account{UID: os.Getuid(), GID: os.Getgid()}
	}
	u, err := user.Lookup("postgres")
	if err != nil {
		t.Fatalf("running as root, PostgreSQL needs the postgres system user: %v; %s", err, installHint)
	}
	uid, _ := strconv.Atoi(u.Uid)
	gid, _ := strconv.Atoi(u.Gid)
	return Account{UID: uid, GID: gid, Credential: &syscall.Credential{Uid: uint32(uid), Gid: uint32(gid)}}
}

// Dir makes a directory that acct can use, removed when the test ends.
// t.TempDir will not do when the server runs as another user: its parents
// are 0700 and owned by root.
func Dir(t testing.TB, acct Account) string {
	t.Helper()
	dir, err := os.MkdirTemp("", "tlsgen-test-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	if err := os.Chmod(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	if acct.Credential != nil {
		if err := os.Chown(dir, acct.UID, acct.GID); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

// process is a running server.
type process struct {
	name string
	cmd  *exec.Cmd
	log  string
	done chan struct{}
	err  error // from Wait, once done is closed
	once sync.Once
}

// start runs cmd with its output in logFile and stops it by PID when the
// test ends.
func start(t testing.TB, name string, cmd *exec.Cmd, logFile string) (*process, error) {
	t.Helper()
	f, err := os.Create(logFile)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	cmd.Stdout, cmd.Stderr = f, f
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("starting %s: %w", name, err)
	}
	p := &process{name: name, cmd: cmd, log: logFile, done: make(chan struct{})}
	go func() {
		p.err = cmd.Wait()
		close(p.done)
	}()
	t.Cleanup(func() { p.stop(t) })
	return p, nil
}

// PID is the server's process id.
func (p *process) PID() int { return p.cmd.Process.Pid }

// stop sends SIGINT to the PID (PostgreSQL's fast shutdown, which does not
// wait for clients; Redis shuts down on it too), and SIGKILL when the
// process outlives ten seconds.
func (p *process) stop(t testing.TB) {
	p.once.Do(func() {
		select {
		case <-p.done:
			return
		default:
		}
		pid := p.PID()
		syscall.Kill(pid, syscall.SIGINT)
		select {
		case <-p.done:
		case <-time.After(10 * time.Second):
			t.Logf("%s (pid %d) still running 10s after SIGINT: killing it", p.name, pid)
			syscall.Kill(pid, syscall.SIGKILL)
			<-p.done
		}
	})
}

// Log returns what the server wrote.
func (p *process) Log() string {
	data, _ := os.ReadFile(p.log)
	return string(data)
}

// waitFor polls ready until it returns true, the process exits, or
// ReadyTimeout passes.
func (p *process) waitFor(ready func() bool) error {
	deadline := time.Now().Add(ReadyTimeout)
	tick := time.NewTicker(20 * time.Millisecond)
	defer tick.Stop()
	for {
		if ready() {
			return nil
		}
		select {
		case <-p.done:
			return &StartError{Server: p.name, Err: fmt.Errorf("exited (%v) before accepting connections", p.err), Log: p.Log()}
		case <-tick.C:
		}
		if time.Now().After(deadline) {
			return &StartError{Server: p.name, Err: fmt.Errorf("not ready after %s", ReadyTimeout), Log: p.Log()}
		}
	}
}

// StartError is a server that did not come up; Log is what it said.
type StartError struct {
	Server string
	Err    error
	Log    string
}

func (e *StartError) Error() string {
	return fmt.Sprintf("%s: %v; its log:\n%s", e.Server, e.Err, e.Log)
}
func (e *StartError) Unwrap() error { return e.Err }

// binary finds a server binary in dirs or $PATH, or fails the test.
func binary(t testing.TB, name string, dirs ...string) string {
	t.Helper()
	for _, d := range dirs {
		p := filepath.Join(d, name)
		if st, err := os.Stat(p); err == nil && st.Mode()&0o111 != 0 {
			return p
		}
	}
	if p, err := exec.LookPath(name); err == nil {
		return p
	}
	t.Fatalf("%s not found (looked in %s and $PATH); %s", name, strings.Join(dirs, ", "), installHint)
	return ""
}

// readLine returns line n (from 1) of a file, or "".
func readLine(path string, n int) string {
	f, err := os.Open(path)
	if err != nil {
		return ""
	}
	defer f.Close()
	s := bufio.NewScanner(f)
	for i := 1; s.Scan(); i++ {
		if i == n {
			return strings.TrimSpace(s.Text())
		}
	}
	return ""
}
