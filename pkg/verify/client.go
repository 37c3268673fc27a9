package verify

import (
	"bufio"
	"bytes"
	"context"
	"crypto/tls"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"strings"
)

// The checks tlsgen verify --client adds, after the others.
const (
	CheckClientCert     = "client-cert"
	CheckClientRequired = "client-required"
)

// Client is the client a probe speaks for (tlsgen verify --client): the
// server is asked to take its certificate, and whether it requires one at
// all.
type Client struct {
	// Name is the client's, for messages.
	Name string
	// User is the database user it connects as: the startup message names
	// it, and PostgreSQL compares it with the certificate's CN.
	User string
	// Certificate is what it presents, or nil when the inventory gives it
	// none for this server.
	Certificate *tls.Certificate
	// Required says the inventory has this server require client
	// certificates, and Setting names that setting for messages
	// ("postgres.clientAuth verify-full").
	Required bool
	Setting  string
}

// clientChecks runs the two client checks. A server is asked twice, with
// the client's certificate and without any, and each verdict is read from
// the server's answer after the handshake: under TLS 1.3 the client's side
// of the handshake ends before the server has judged its certificate, and
// PostgreSQL asks for a certificate in pg_hba.conf, not in the handshake.
func (p *prober) clientChecks(ctx context.Context) {
	c := p.t.Client
	if c.Certificate == nil {
		p.add(CheckClientCert, Skip, "the inventory gives %s no certificate for this server (%s)", c.Name, c.Setting)
	} else {
		accepted, detail := p.ask(ctx, c.Certificate)
		switch {
		case accepted:
			p.add(CheckClientCert, OK, "%s's certificate accepted: %s", c.Name, detail)
		default:
			p.add(CheckClientCert, Fail, "%s's certificate refused: %s", c.Name, detail)
		}
	}
	accepted, detail := p.ask(ctx, nil)
	switch {
	case !accepted && c.Required:
		p.add(CheckClientRequired, OK, "a client without a certificate is refused: %s", detail)
	case !accepted:
		p.add(CheckClientRequired, Fail, "a client without a certificate is refused (%s), but %s: clients the inventory gives no certificate cannot connect", detail, c.Setting)
	case c.Required:
		p.add(CheckClientRequired, Fail, "a client without a certificate is let in (%s), but %s (expected the server to require one)", detail, c.Setting)
	default:
		p.add(CheckClientRequired, OK, "not required, as %s: %s", c.Setting, detail)
	}
}

// ask connects presenting cert (none when nil), speaks first as the
// client would, and tells whether the server went on or refused, from its
// answer.
func (p *prober) ask(ctx context.Context, cert *tls.Certificate) (accepted bool, detail string) {
	conn, err := p.dial(ctx)
	if err != nil {
		return false, fmt.Sprintf("could not connect: %v", err)
	}
	defer conn.Close()
	if p.t.Kind == Postgres {
		if ok, err := sslRequest(conn); err != nil || !ok {
			return false, fmt.Sprintf("no TLS offered in answer to the SSLRequest (%v)", err)
		}
	}
	cfg := &tls.Config{
		ServerName:         p.t.ServerName,
		InsecureSkipVerify: true, // the chain check judges the server
		MinVersion:         tls.VersionTLS12,
	}
	presentAlways(cfg, cert)
	tc := tls.Client(conn, cfg)
	if err := tc.Handshake(); err != nil {
		return false, "the handshake failed: " + alertText(err)
	}
	if p.t.Kind == Postgres {
		return postgresAnswer(tc, p.t.Client.User)
	}
	return redisAnswer(tc)
}

// alertText words a TLS error, which carries the server's alert when there
// was one.
func alertText(err error) string {
	var ne net.Error
	if errors.As(err, &ne) && ne.Timeout() {
		return "no answer before the timeout"
	}
	return strings.TrimPrefix(err.Error(), "remote error: ")
}

// postgresAnswer sends a startup message as user and reads the first
// answer: an authentication request means the certificate, if any, was
// taken (with clientcert=verify-full PostgreSQL compares its CN with the
// user only after the password, which verify does not know); an error
// from pg_hba.conf or the cert method means it was not.
func postgresAnswer(conn *tls.Conn, user string) (bool, string) {
	var body bytes.Buffer
	binary.Write(&body, binary.BigEndian, uint32(protocolVersion3))
	for _, s := range []string{"user", user, "database", "postgres", "application_name", "tlsgen-verify", ""} {
		body.WriteString(s)
		body.WriteByte(0)
	}
	msg := binary.BigEndian.AppendUint32(nil, uint32(body.Len()+4))
	if _, err := conn.Write(append(msg, body.Bytes()...)); err != nil {
		return false, "the connection closed on the startup message: " + alertText(err)
	}
	r := bufio.NewReader(conn)
	typ, err := r.ReadByte()
	if err != nil {
		return false, "the connection closed before an answer: " + alertText(err)
	}
	var n uint32
	if err := binary.Read(r, binary.BigEndian, &n); err != nil || n < 4 || n > 1<<16 {
		return false, "a malformed answer to the startup message"
	}
	payload := make([]byte, n-4)
	if _, err := io.ReadFull(r, payload); err != nil {
		return false, fmt.Sprintf("a truncated answer to the startup message: %v", err)
	}
	switch typ {
	case 'R':
		if len(payload) < 4 {
			break
		}
		code := binary.BigEndian.Uint32(payload)
		if code == 0 {
			return true, fmt.Sprintf("authenticated as %s without a password", user)
		}
		method, ok := authMethods[code]
		if !ok {
			method = fmt.Sprintf("authentication method %d", code)
		}
		return true, fmt.Sprintf("the server asks %s for %s", user, method)
	case 'E':
		f := errorFields(payload)
		if f['C'] == "3D000" { // invalid_catalog_name: authentication is done
			return true, fmt.Sprintf("authenticated as %s without a password (%s)", user, f['M'])
		}
		return false, fmt.Sprintf("%s (SQLSTATE %s)", f['M'], f['C'])
	}
	return false, fmt.Sprintf("an answer %q to the startup message", typ)
}

// redisAnswer sends PING and reads the first line: any RESP reply, even
// -NOAUTH, means the connection was taken; an alert means it was not.
func redisAnswer(conn *tls.Conn) (bool, string) {
	if _, err := conn.Write([]byte("*1\r\n$4\r\nPING\r\n")); err != nil {
		return false, "the connection closed on PING: " + alertText(err)
	}
	line, err := bufio.NewReader(conn).ReadString('\n')
	if line == "" {
		return false, "no reply to PING: " + alertText(err)
	}
	return true, fmt.Sprintf("PING answered %q", strings.TrimSpace(line))
}

// presentAlways makes cfg present cert whatever the server asks: Go sends
// no certificate that the server's list of acceptable CAs does not name,
// and the probe would then report the server's verdict on no certificate
// instead of on the client's.
func presentAlways(cfg *tls.Config, cert *tls.Certificate) {
	if cert == nil {
		return
	}
	cfg.GetClientCertificate = func(*tls.CertificateRequestInfo) (*tls.Certificate, error) { return cert, nil }
}
