package mqtt

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"time"

	"github.com/hazardgw/hazardgw/internal/conf"
)

// DevicesFile is the name of the file in the data directory that remembers
// the devices learnt from traffic across restarts.
const DevicesFile = "mqtt-devices.json"

// devicesFileVersion is the format written; another is damage.
const devicesFileVersion = 1

// maxDevicesFile bounds what is read: MaxMaxDevices entries take well
// under this; a larger file is not ours.
const maxDevicesFile = 32 << 20

type devicesDoc struct {
	Version int           `json:"version"`
	Devices []savedDevice `json:"devices"`
}

// errDamaged marks a devices file that is there but cannot be used.
var errDamaged = errors.New("damaged")

// readDevices reads the devices file at path. A missing file is no
// devices; one that is not a valid devices file is errDamaged (wrapped).
func readDevices(path string) ([]savedDevice, error) {
	f, err := os.Open(path)
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("read devices file: %w", err)
	}
	defer f.Close()
	b, err := io.ReadAll(io.LimitReader(f, maxDevicesFile+1))
	if err != nil {
		return nil, fmt.Errorf("read devices file: %w", err)
	}
	if len(b) > maxDevicesFile {
		return nil, fmt.Errorf("read devices file: %w: larger than %d bytes", errDamaged, maxDevicesFile)
	}
	var doc devicesDoc
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&doc); err != nil {
		return nil, fmt.Errorf("read devices file: %w: %v", errDamaged, err)
	}
	if dec.More() {
		return nil, fmt.Errorf("read devices file: %w: data after the document", errDamaged)
	}
	if doc.Version != devicesFileVersion {
		return nil, fmt.Errorf("read devices file: %w: version %d, want %d", errDamaged, doc.Version, devicesFileVersion)
	}
	ids := make(map[string]bool, len(doc.Devices))
	for i, d := range doc.Devices {
		switch {
		case !validID(d.ID):
			return nil, fmt.Errorf("read devices file: %w: devices[%d]: invalid id", errDamaged, i)
		case d.Kind != "" && !conf.IsName(d.Kind):
			return nil, fmt.Errorf("read devices file: %w: devices[%d]: invalid kind %q", errDamaged, i, d.Kind)
		case ids[d.ID]:
			return nil, fmt.Errorf("read devices file: %w: devices[%d]: duplicate id %q", errDamaged, i, d.ID)
		}
		ids[d.ID] = true
	}
	return doc.Devices, nil
}

// writeDevices replaces the devices file at path atomically: a temporary
// file in the same directory, fsync'd, renamed over it, and the directory
// fsync'd, so that a crash leaves the old file or the new one.
func writeDevices(path string, devs []savedDevice) error {
	b, err := json.MarshalIndent(devicesDoc{Version: devicesFileVersion, Devices: devs}, "", "  ")
	if err != nil {
		return fmt.Errorf("write devices file: %w", err)
	}
	b = append(b, '\n')
	dir := filepath.Dir(path)
	tmp, err := os.CreateTemp(dir, filepath.Base(path)+".tmp-*")
	if err != nil {
		return fmt.Errorf("write devices file: %w", err)
	}
	defer os.Remove(tmp.Name()) // after a successful rename there is nothing to remove
	if _, err := tmp.Write(b); err != nil {
		tmp.Close()
		return fmt.Errorf("write devices file: %w", err)
	}
	if err := tmp.Sync(); err != nil {
		tmp.Close()
		return fmt.Errorf("write devices file: %w", err)
	}
	if err := tmp.Close(); err != nil {
		return fmt.Errorf("write devices file: %w", err)
	}
	if err := os.Rename(tmp.Name(), path); err != nil {
		return fmt.Errorf("write devices file: %w", err)
	}
	d, err := os.Open(dir)
	if err != nil {
		return fmt.Errorf("write devices file: sync directory: %w", err)
	}
	defer d.Close()
	if err := d.Sync(); err != nil {
		return fmt.Errorf("write devices file: sync directory: %w", err)
	}
	return nil
}

// moveAside renames a damaged file to path.damaged-<unix seconds> and
// returns the new name.
func moveAside(path string, now time.Time) (string, error) {
	to := fmt.Sprintf("%s.damaged-%d", path, now.Unix())
	if err := os.Rename(path, to); err != nil {
		return "", fmt.Errorf("move damaged devices file aside: %w", err)
	}
	return to, nil
}

// Errors of Source.Forget.
var (
	// ErrUnknownDevice: no device learnt from traffic has this id.
	ErrUnknownDevice = errors.New("no MQTT device learnt from traffic has this id")
	// ErrDeclaredDevice: the device is declared in mqtt.devices; the
	// configuration removes it.
	ErrDeclaredDevice = errors.New("the device is declared in mqtt.devices: remove it from the configuration")
)

// Forget stops tracking a device learnt from traffic (an engineer removed
// it for good): no more offline points for it, it leaves Devices, and the
// devices file is rewritten at once so that a restart does not bring it
// back. Should it speak again, it is learnt afresh. A declared device is
// ErrDeclaredDevice, an id not tracked ErrUnknownDevice. A failure to
// write the file is logged and retried like any save; the device is
// forgotten all the same. It is safe for concurrent use.
func (s *Source) Forget(id string) error {
	if err := s.live.forget(id); err != nil {
		return err
	}
	s.log.Info("MQTT device forgotten: no longer tracked for liveness", "device", id)
	if s.started.Load() {
		s.saveDevices(true)
	}
	return nil
}
