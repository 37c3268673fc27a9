package servers

import (
	"net"
	"os/exec"
	"path/filepath"
	"strconv"
	"syscall"
	"testing"
	"time"
)

// Redis is a running redis-server.
type Redis struct {
	*process
	Port int
}

// Addr is the address of the port the server was waited on.
func (r *Redis) Addr() string { return "127.0.0.1:" + strconv.Itoa(r.Port) }

// Stop stops the server by PID now, before the test ends.
func (r *Redis) Stop(t testing.TB) { r.stop(t) }

// StartRedis runs redis-server with args, which must bind it to 127.0.0.1
// and listen on port, and waits until port accepts connections. It returns
// a *StartError, with the server's log, when it does not come up.
func StartRedis(t testing.TB, dir string, port int, args ...string) (*Redis, error) {
	t.Helper()
	cmd := exec.Command(binary(t, "redis-server"), args...)
	cmd.Dir = dir
	p, err := start(t, "redis-server", cmd, filepath.Join(dir, "redis.log"))
	if err != nil {
		return nil, err
	}
	addr := "127.0.0.1:" + strconv.Itoa(port)
	// A TLS port cannot be asked PING in plaintext: accepting a connection
	// is the readiness signal. Redis listens once the data set is loaded,
	// and a test's data set is empty.
	err = p.waitFor(func() bool {
		c, err := net.DialTimeout("tcp", addr, time.Second)
		if err != nil {
			return false
		}
		c.Close()
		return true
	})
	if err != nil {
		return nil, err
	}
	return &Redis{process: p, Port: port}, nil
}

// RedisCLI returns the path of redis-cli, which the rendered probes run.
func RedisCLI(t testing.TB) string { return binary(t, "redis-cli") }

func sysProcAttr(acct Account) *syscall.SysProcAttr {
	if acct.Credential == nil {
		return nil
	}
	return &syscall.SysProcAttr{Credential: acct.Credential}
}
