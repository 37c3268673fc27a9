package servers

import (
	"encoding/json"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"testing"
	"time"
)

// Etcd is a running etcd, the store behind a test's kube-apiserver.
type Etcd struct {
	*process
	Port int // the client port
}

// URL is the client URL, for kube-apiserver's --etcd-servers.
func (e *Etcd) URL() string { return "http://127.0.0.1:" + strconv.Itoa(e.Port) }

// StartEtcd runs Debian's etcd (package etcd-server) as a one-member
// cluster on 127.0.0.1, with free client and peer ports and its data in a
// temporary directory, and waits until its /health says true. It returns a
// *StartError, with etcd's log, when etcd does not come up.
func StartEtcd(t testing.TB) (*Etcd, error) {
	t.Helper()
	bin, err := exec.LookPath("etcd")
	if err != nil {
		t.Fatalf("etcd not found in $PATH: %v; .ci/run installs it (apt-get install etcd-server)", err)
	}
	dir := t.TempDir()
	client, peer := FreePort(t), FreePort(t)
	clientURL := "http://127.0.0.1:" + strconv.Itoa(client)
	peerURL := "http://127.0.0.1:" + strconv.Itoa(peer)
	cmd := exec.Command(bin,
		"--name", "test",
		"--data-dir", filepath.Join(dir, "data"),
		"--listen-client-urls", clientURL,
		"--advertise-client-urls", clientURL,
		"--listen-peer-urls", peerURL,
		"--initial-advertise-peer-urls", peerURL,
		"--initial-cluster", "test="+peerURL,
		"--initial-cluster-state", "new",
		"--logger", "zap", // 3.4's default capnslog is deprecated
	)
	// Debian's etcd reads ETCD_* variables as flags: the test's own
	// environment must not reach it.
	cmd.Env = []string{"PATH=" + os.Getenv("PATH")}
	cmd.SysProcAttr = orphanKill()
	p, err := start(t, "etcd", cmd, filepath.Join(dir, "etcd.log"))
	if err != nil {
		return nil, err
	}
	hc := &http.Client{Timeout: time.Second}
	err = p.waitFor(func() bool {
		resp, err := hc.Get(clientURL + "/health")
		if err != nil {
			return false
		}
		defer resp.Body.Close()
		var h struct{ Health string }
		return resp.StatusCode == http.StatusOK && json.NewDecoder(resp.Body).Decode(&h) == nil && h.Health == "true"
	})
	if err != nil {
		return nil, err
	}
	return &Etcd{process: p, Port: client}, nil
}
