package servers

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"encoding/pem"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"syscall"
	"testing"
	"time"
)

// KubeAPIServerEnv names a kube-apiserver binary to use instead of the one
// tools/kube-apiserver/build.sh puts in the cache.
const KubeAPIServerEnv = "TLSGEN_KUBE_APISERVER"

// kubeAPIServerReadyTimeout bounds how long kube-apiserver may take to say
// it is ready: it builds its OpenAPI documents and runs its post-start hooks
// first, which on two busy cores takes longer than ReadyTimeout.
const kubeAPIServerReadyTimeout = 2 * time.Minute

// KubeAPIServerPath is where the kube-apiserver of a Kubernetes version
// (v1.37.2) is looked for: $TLSGEN_KUBE_APISERVER when set, else the cache
// that tools/kube-apiserver/build.sh builds into.
func KubeAPIServerPath(version string) string {
	if p := os.Getenv(KubeAPIServerEnv); p != "" {
		return p
	}
	home, err := os.UserHomeDir()
	if err != nil {
		home = "~"
	}
	return filepath.Join(home, ".cache", "tlsgen", "kube-apiserver-"+version, "kube-apiserver")
}

// KubeAPIServerBinary returns KubeAPIServerPath(version), or fails the test
// when no executable is there: the binary is built from source, which a
// test does not do on its own (minutes on two cores).
func KubeAPIServerBinary(t testing.TB, version string) string {
	t.Helper()
	p := KubeAPIServerPath(version)
	st, err := os.Stat(p)
	if err == nil && st.Mode().IsRegular() && st.Mode()&0o111 != 0 {
		return p
	}
	if err == nil {
		err = fmt.Errorf("not an executable file")
	}
	t.Fatalf("kube-apiserver %s: %v: run tools/kube-apiserver/build.sh, which builds it from source into that path (several minutes the first time; .ci/run calls it), or point $%s at a kube-apiserver %s", version, err, KubeAPIServerEnv, version)
	return ""
}

// KubeAPIServer is a running kube-apiserver, on 127.0.0.1 and a free
// port, storing in a test's etcd. Every request it serves is allowed
// (AlwaysAllow): the tests are about what it validates, not who may ask.
type KubeAPIServer struct {
	*process
	Port int
	// Token is the bearer token of a member of system:masters.
	Token string
	// client trusts the self-signed certificate the server made in its
	// --cert-dir, and nothing else.
	client *http.Client
}

// URL is the server's base URL.
func (s *KubeAPIServer) URL() string { return "https://127.0.0.1:" + strconv.Itoa(s.Port) }

// Do sends a request to the server with the token, to path (which may
// carry a query), and returns the response with its body read.
func (s *KubeAPIServer) Do(method, path, contentType string, body []byte) (*http.Response, []byte, error) {
	req, err := http.NewRequest(method, s.URL()+path, bytes.NewReader(body))
	if err != nil {
		return nil, nil, err
	}
	req.Header.Set("Authorization", "Bearer "+s.Token)
	req.Header.Set("Accept", "application/json")
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	resp, err := s.client.Do(req)
	if err != nil {
		return nil, nil, err
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(resp.Body)
	return resp, data, err
}

// StartKubeAPIServer runs the kube-apiserver binary bin against etcd and
// waits until /readyz answers ok. It serves on 127.0.0.1 only, with a
// certificate of its own making, a service-account key made here, and a
// token file with one superuser. No controller manager runs: Services get
// no endpoints (--endpoint-reconciler-type=none) and nothing is scheduled,
// which a dry run does not need. It returns a *StartError, with the
// server's log, when the server does not come up.
func StartKubeAPIServer(t testing.TB, bin string, etcd *Etcd) (*KubeAPIServer, error) {
	t.Helper()
	dir := t.TempDir()
	port := FreePort(t)

	// The service-account key: kube-apiserver will not start without one
	// to sign and verify tokens with.
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, err
	}
	der, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		return nil, err
	}
	saKey := filepath.Join(dir, "service-account.key")
	if err := os.WriteFile(saKey, pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: der}), 0o600); err != nil {
		return nil, err
	}

	// The token file's format: token,user,uid,"group,...".
	token := rand.Text()
	tokens := filepath.Join(dir, "tokens.csv")
	if err := os.WriteFile(tokens, []byte(token+`,tlsgen-test,tlsgen-test,"system:masters"`+"\n"), 0o600); err != nil {
		return nil, err
	}

	certDir := filepath.Join(dir, "certs")
	cmd := exec.Command(bin,
		"--etcd-servers", etcd.URL(),
		"--bind-address", "127.0.0.1",
		// Without it, the server advertises the address of the default
		// route's interface, and fails to start where there is none.
		"--advertise-address", "127.0.0.1",
		"--secure-port", strconv.Itoa(port),
		"--cert-dir", certDir,
		"--token-auth-file", tokens,
		"--anonymous-auth=false",
		"--authorization-mode", "AlwaysAllow",
		"--service-account-issuer", "https://kubernetes.default.svc.cluster.local",
		"--service-account-key-file", saKey,
		"--service-account-signing-key-file", saKey,
		"--service-cluster-ip-range", "10.96.0.0/16",
		// The reconciler would point the "kubernetes" Service's endpoints
		// at 127.0.0.1, which Endpoints validation refuses (no loopback
		// addresses); nothing here needs them.
		"--endpoint-reconciler-type", "none",
		"--profiling=false",
	)
	cmd.SysProcAttr = orphanKill()
	p, err := start(t, "kube-apiserver", cmd, filepath.Join(dir, "kube-apiserver.log"))
	if err != nil {
		return nil, err
	}
	s := &KubeAPIServer{process: p, Port: port, Token: token}

	// The server writes its self-signed certificate, followed by the CA
	// that signed it, to --cert-dir before it listens.
	deadline := time.Now().Add(kubeAPIServerReadyTimeout)
	tick := time.NewTicker(100 * time.Millisecond)
	defer tick.Stop()
	var last string
	for {
		if s.client == nil {
			if pemCerts, err := os.ReadFile(filepath.Join(certDir, "apiserver.crt")); err == nil {
				pool := x509.NewCertPool()
				if pool.AppendCertsFromPEM(pemCerts) {
					s.client = &http.Client{
						Timeout:   30 * time.Second,
						Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12}},
					}
				}
			}
		}
		if s.client != nil {
			resp, body, err := s.Do(http.MethodGet, "/readyz", "", nil)
			switch {
			case err != nil:
				last = err.Error()
			case resp.StatusCode == http.StatusOK:
				return s, nil
			default:
				last = resp.Status + ": " + string(body)
			}
		}
		select {
		case <-p.done:
			return nil, &StartError{Server: p.name, Err: fmt.Errorf("exited (%v) before it was ready", p.err), Log: p.Log()}
		case <-tick.C:
		}
		if time.Now().After(deadline) {
			return nil, &StartError{Server: p.name, Err: fmt.Errorf("not ready after %s; /readyz said: %s", kubeAPIServerReadyTimeout, last), Log: p.Log()}
		}
	}
}

// orphanKill has the kernel end a server when the test binary dies without
// running its cleanups (a -timeout panic, a kill): etcd and kube-apiserver
// would otherwise outlive it, holding their ports.
func orphanKill() *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
}
