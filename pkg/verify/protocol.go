package verify

import (
	"bufio"
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"strings"
)

// sslRequestCode asks a PostgreSQL server to start TLS: 1234 in the high
// 16 bits and 5679 in the low, sent in place of a startup message. The
// server answers one byte, S (go on with the TLS handshake) or N.
// https://www.postgresql.org/docs/current/protocol-flow.html#PROTOCOL-FLOW-SSL
// https://www.postgresql.org/docs/current/protocol-message-formats.html#PROTOCOL-MESSAGE-FORMATS-SSLREQUEST
const sslRequestCode = 80877103

// protocolVersion3 is protocol 3.0 in a StartupMessage (3 << 16).
const protocolVersion3 = 196608

// sslRequest sends the SSLRequest and reads the answer.
func sslRequest(conn net.Conn) (bool, error) {
	var msg [8]byte
	binary.BigEndian.PutUint32(msg[0:4], 8)
	binary.BigEndian.PutUint32(msg[4:8], sslRequestCode)
	if _, err := conn.Write(msg[:]); err != nil {
		return false, fmt.Errorf("sending the SSLRequest: %w", err)
	}
	var b [1]byte
	if _, err := io.ReadFull(conn, b[:]); err != nil {
		return false, fmt.Errorf("reading the answer to the SSLRequest: %w", err)
	}
	switch b[0] {
	case 'S':
		return true, nil
	case 'N':
		return false, nil
	}
	return false, fmt.Errorf("answer %q to the SSLRequest is neither S nor N: not a PostgreSQL server?", b[0])
}

// authMethods names the AuthenticationRequest codes a server may send when
// it accepts a startup packet.
// https://www.postgresql.org/docs/current/protocol-message-formats.html
var authMethods = map[uint32]string{0: "no authentication (trust)", 3: "a cleartext password", 5: "an MD5 password", 7: "GSSAPI", 9: "SSPI", 10: "SASL (scram-sha-256)"}

// postgresPlaintext sends a StartupMessage without TLS. pg_hba.conf must
// reject it (hostnossl ... reject, or no host line matching it) with an
// ErrorResponse, SQLSTATE 28000, before any authentication.
func postgresPlaintext(conn net.Conn) (refused bool, detail string) {
	var body bytes.Buffer
	binary.Write(&body, binary.BigEndian, uint32(protocolVersion3))
	for _, s := range []string{"user", "tlsgen-verify", "database", "postgres", ""} {
		body.WriteString(s)
		body.WriteByte(0)
	}
	msg := binary.BigEndian.AppendUint32(nil, uint32(body.Len()+4))
	msg = append(msg, body.Bytes()...)
	if _, err := conn.Write(msg); err != nil {
		return true, fmt.Sprintf("connection closed on the startup message (%v)", err)
	}
	r := bufio.NewReader(conn)
	typ, err := r.ReadByte()
	if err != nil {
		// A server that says nothing has not rejected anything: PostgreSQL
		// answers every startup message.
		var ne net.Error
		if errors.As(err, &ne) && ne.Timeout() {
			return false, "no answer to a plaintext startup message (expected an error from pg_hba.conf)"
		}
		return true, fmt.Sprintf("connection closed without an answer (%v)", err)
	}
	var n uint32
	if err := binary.Read(r, binary.BigEndian, &n); err != nil || n < 4 || n > 1<<16 {
		return false, "a malformed answer to a plaintext startup message (expected pg_hba.conf to reject it)"
	}
	payload := make([]byte, n-4)
	if _, err := io.ReadFull(r, payload); err != nil {
		return false, fmt.Sprintf("a truncated answer to a plaintext startup message: %v", err)
	}
	const expected = "expected pg_hba.conf to reject connections without TLS: hostnossl all all all reject"
	switch typ {
	case 'E':
		fields := errorFields(payload)
		if fields['C'] == "28000" { // invalid_authorization_specification: pg_hba
			return true, fields['M']
		}
		return false, fmt.Sprintf("plaintext startup answered with error %s %q (%s)", fields['C'], fields['M'], expected)
	case 'R':
		if len(payload) >= 4 {
			code := binary.BigEndian.Uint32(payload)
			method, ok := authMethods[code]
			if !ok {
				method = fmt.Sprintf("authentication method %d", code)
			}
			return false, fmt.Sprintf("plaintext connection accepted: the server asked for %s (%s)", method, expected)
		}
	}
	return false, fmt.Sprintf("plaintext startup answered with message %q (%s)", typ, expected)
}

// errorFields reads an ErrorResponse body: a type byte and a string, until
// a zero byte.
func errorFields(b []byte) map[byte]string {
	f := map[byte]string{}
	for len(b) > 1 && b[0] != 0 {
		typ := b[0]
		s, rest, ok := bytes.Cut(b[1:], []byte{0})
		if !ok {
			break
		}
		f[typ] = string(s)
		b = rest
	}
	return f
}

// redisPlaintext sends PING in RESP. A TLS-only port (--port 0, the
// rendered setting) takes the bytes for a broken TLS record and closes the
// connection; any RESP reply, even -NOAUTH, means the port speaks
// plaintext. https://redis.io/docs/latest/develop/reference/protocol-spec/
func redisPlaintext(conn net.Conn) (refused bool, detail string) {
	if _, err := conn.Write([]byte("*1\r\n$4\r\nPING\r\n")); err != nil {
		return true, fmt.Sprintf("connection closed on PING (%v)", err)
	}
	line, err := bufio.NewReader(conn).ReadString('\n')
	if line == "" {
		var ne net.Error
		if errors.As(err, &ne) && ne.Timeout() {
			// A timeout is not a refusal: a loaded server, or a proxy, may
			// simply not have answered yet. A TLS-only port closes the
			// connection on the first byte that is not a TLS record.
			return false, "no reply to a plaintext PING before the timeout, and the connection stayed open (expected Redis to close it: --port 0, TLS only)"
		}
		return true, fmt.Sprintf("no reply to a plaintext PING (%v)", err)
	}
	const expected = "expected no reply: Redis must listen with TLS only, --port 0"
	if strings.ContainsRune("+-:$*_#,(!=%~>", rune(line[0])) {
		return false, fmt.Sprintf("plaintext PING got %q (%s)", strings.TrimSpace(line), expected)
	}
	return true, "no RESP reply to a plaintext PING"
}
