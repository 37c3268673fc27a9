package pki

import (
	"crypto/x509"
	"fmt"
	"time"
)

// Day is the unit renewal reasons and expiry checks are written in.
const Day = 24 * time.Hour

// RenewalTime is when a certificate valid from notBefore to notAfter is due
// for renewal: renewBefore ahead of its end. A certificate whose whole life
// is shorter than renewBefore (made by hand, or by another tool) would be
// due from the start; it is renewed at two thirds of its life instead, as
// cert-manager does (pkg/util/pki/renewaltime.go, RenewalTime). render and
// verify both judge by this one function.
func RenewalTime(notBefore, notAfter time.Time, renewBefore time.Duration) time.Time {
	if life := notAfter.Sub(notBefore); renewBefore >= life {
		renewBefore = life / 3
	}
	return notAfter.Add(-renewBefore)
}

// CARenewalTime is when a CA is due for rotation: a year before its end,
// since no certificate it signs may outlive it.
func CARenewalTime(ca *x509.Certificate) time.Time { return ca.NotAfter.Add(-Year) }

// Why is the kind of reason a certificate is issued; status reports it as
// the certificate's state.
type Why string

// The kinds of reason.
const (
	WhyMissing     Why = "missing"       // no certificate, or no key
	WhyNotYetValid Why = "not-yet-valid" // issued for a later time
	WhyExpired     Why = "expired"
	WhyDue         Why = "due"      // in its renewal window, or signed by a CA being rotated out
	WhyMismatch    Why = "mismatch" // key type, names or usage differ from the request
)

// reason is why decide asks for a certificate: in words, as a kind, and the
// day it entered its renewal window when that is why.
type reason struct {
	text    string
	why     Why
	renewAt time.Time
}

// Due reports whether c is due for renewal at now.
func Due(c *x509.Certificate, renewBefore time.Duration, now time.Time) bool {
	return !now.Before(RenewalTime(c.NotBefore, c.NotAfter, renewBefore))
}

// FormatDuration writes d in days from two days on, in hours below, in
// minutes below an hour: "80d", "36h", "5m".
func FormatDuration(d time.Duration) string {
	if d >= 2*Day {
		return fmt.Sprintf("%dd", d/Day)
	}
	if d >= time.Hour {
		return fmt.Sprintf("%dh", d/time.Hour)
	}
	return fmt.Sprintf("%dm", d/time.Minute)
}
