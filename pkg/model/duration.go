package model

import (
	"bytes"
	"encoding/json"
	"fmt"
	"strconv"
	"strings"
	"time"
)

// Day and Year are the units certificate lifetimes are written in. A year is
// 365 days, as openssl's -days and most CAs count it: nobody expects leap-day
// precision from "3y".
const (
	Day  = 24 * time.Hour
	Year = 365 * Day
)

// Duration is a length of time as written in the inventory: a whole number
// and one unit, y (365 days), d (24 hours), h or m. Text keeps what the file
// said; Value is set by validation.
type Duration struct {
	Text  string
	Value time.Duration
}

// UnmarshalJSON keeps the text and leaves parsing to validation, so that a bad
// duration is reported with its field path like every other problem.
func (d *Duration) UnmarshalJSON(b []byte) error {
	if bytes.Equal(b, []byte("null")) {
		return nil
	}
	var s string
	if err := json.Unmarshal(b, &s); err != nil {
		s = string(b) // a bare number: validation says it lacks a unit
	}
	d.Text = s
	return nil
}

// MarshalJSON writes the text back, so an inventory round-trips.
func (d Duration) MarshalJSON() ([]byte, error) { return json.Marshal(d.Text) }

var units = map[byte]time.Duration{'y': Year, 'd': Day, 'h': time.Hour, 'm': time.Minute}

// ParseDuration reads "10y", "3y", "90d", "36h" or "30m".
func ParseDuration(s string) (time.Duration, error) {
	s = strings.TrimSpace(s)
	if s == "" {
		return 0, fmt.Errorf("empty duration")
	}
	unit, ok := units[s[len(s)-1]]
	if !ok {
		return 0, fmt.Errorf("%q has no unit: write a whole number followed by y, d, h or m (e.g. 3y, 90d)", s)
	}
	n, err := strconv.ParseInt(s[:len(s)-1], 10, 64)
	if err != nil || n <= 0 {
		return 0, fmt.Errorf("%q is not a positive whole number followed by y, d, h or m (e.g. 3y, 90d)", s)
	}
	if n > int64(200*Year/unit) {
		return 0, fmt.Errorf("%q is longer than 200 years", s)
	}
	return time.Duration(n) * unit, nil
}
