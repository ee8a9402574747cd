package forest

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"path/filepath"
	"time"
)

// stateVersion is the format of the state file; another is damage.
const stateVersion = 1

// maxStateFile bounds what is read: the state is a few hundred bytes.
const maxStateFile = 64 << 10

// stateDoc is the state file: the rating day and the last rating, so that
// a restart carries on with the same day, the same dry-day count, and the
// checkpoints are told the level they were last told.
type stateDoc struct {
	Version int    `json:"version"`
	Station string `json:"station"`
	Day     Day    `json:"day"`
	// Level is the last level rated (0: none yet) and LevelSince when it
	// took that level: the ts of the voice command.
	Level      int       `json:"level"`
	LevelSince time.Time `json:"level_since,omitzero"`
}

// errDamaged marks a state file that is there but cannot be used.
var errDamaged = errors.New("damaged")

// decodeState reads a state document. Anything that is not a state this
// code wrote is errDamaged (wrapped): bad JSON, unknown fields, another
// version, values out of their ranges.
func decodeState(b []byte) (stateDoc, error) {
	var doc stateDoc
	if len(b) > maxStateFile {
		return doc, fmt.Errorf("%w: larger than %d bytes", errDamaged, maxStateFile)
	}
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&doc); err != nil {
		return stateDoc{}, fmt.Errorf("%w: %v", errDamaged, err)
	}
	if dec.More() {
		return stateDoc{}, fmt.Errorf("%w: data after the document", errDamaged)
	}
	if err := doc.check(); err != nil {
		return stateDoc{}, fmt.Errorf("%w: %v", errDamaged, err)
	}
	return doc, nil
}

func (s *stateDoc) check() error {
	d := &s.Day
	finite := func(v float64) bool { return !math.IsNaN(v) && !math.IsInf(v, 0) }
	switch {
	case s.Version != stateVersion:
		return fmt.Errorf("version %d, want %d", s.Version, stateVersion)
	case s.Level < 0 || s.Level > 5:
		return fmt.Errorf("level %d out of range", s.Level)
	case d.DryDays < 0 || d.DryDays > maxDryDays:
		return fmt.Errorf("dry_days %d out of range", d.DryDays)
	case d.Readings < 0:
		return fmt.Errorf("readings %d negative", d.Readings)
	case !finite(d.MaxTemp) || !finite(d.MinHumidity) || !finite(d.MaxWind) || !finite(d.Rain) || d.Rain < 0:
		return errors.New("a value of the day is not a number")
	case d.Counter != nil && (!finite(*d.Counter) || *d.Counter < 0):
		return errors.New("counter is not a number")
	}
	for _, date := range []string{d.Date, d.CounterDate} {
		if date == "" {
			continue
		}
		if _, err := time.Parse(time.DateOnly, date); err != nil {
			return fmt.Errorf("date %q: want YYYY-MM-DD", date)
		}
	}
	if d.Date == "" && d.Readings > 0 {
		return errors.New("readings without a date")
	}
	return nil
}

// readState reads the state file at path. A missing file is (zero, false,
// nil); one that is not a valid state file is errDamaged (wrapped).
func readState(path string) (stateDoc, bool, error) {
	f, err := os.Open(path)
	if errors.Is(err, os.ErrNotExist) {
		return stateDoc{}, false, nil
	}
	if err != nil {
		return stateDoc{}, false, fmt.Errorf("read fire danger state: %w", err)
	}
	defer f.Close()
	b, err := io.ReadAll(io.LimitReader(f, maxStateFile+1))
	if err != nil {
		return stateDoc{}, false, fmt.Errorf("read fire danger state: %w", err)
	}
	doc, err := decodeState(b)
	if err != nil {
		return stateDoc{}, false, fmt.Errorf("read fire danger state %s: %w", path, err)
	}
	return doc, true, nil
}

// writeState replaces the state file atomically: a temporary file in the
// same directory, fsync'd, renamed over it, and the directory fsync'd, so
// that a crash leaves the old state or the new one.
func writeState(path string, doc stateDoc) error {
	doc.Version = stateVersion
	b, err := json.MarshalIndent(doc, "", "  ")
	if err != nil {
		return fmt.Errorf("write fire danger state: %w", err)
	}
	b = append(b, '\n')
	dir := filepath.Dir(path)
	tmp, err := os.CreateTemp(dir, filepath.Base(path)+".tmp-*")
	if err != nil {
		return fmt.Errorf("write fire danger state: %w", err)
	}
	defer os.Remove(tmp.Name()) // after a successful rename there is nothing to remove
	if _, err := tmp.Write(b); err != nil {
		tmp.Close()
		return fmt.Errorf("write fire danger state: %w", err)
	}
	if err := tmp.Sync(); err != nil {
		tmp.Close()
		return fmt.Errorf("write fire danger state: %w", err)
	}
	if err := tmp.Close(); err != nil {
		return fmt.Errorf("write fire danger state: %w", err)
	}
	if err := os.Rename(tmp.Name(), path); err != nil {
		return fmt.Errorf("write fire danger state: %w", err)
	}
	d, err := os.Open(dir)
	if err != nil {
		return fmt.Errorf("write fire danger state: sync directory: %w", err)
	}
	defer d.Close()
	if err := d.Sync(); err != nil {
		return fmt.Errorf("write fire danger state: sync directory: %w", err)
	}
	return nil
}

// moveAside renames a damaged state file to path.corrupt-<UTC time> and
// returns the new name.
func moveAside(path string, now time.Time) (string, error) {
	to := fmt.Sprintf("%s.corrupt-%s", path, now.UTC().Format("20060102T150405Z"))
	if err := os.Rename(path, to); err != nil {
		return "", fmt.Errorf("move damaged fire danger state aside: %w", err)
	}
	return to, nil
}
