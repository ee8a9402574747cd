//go:build !linux

package alerting

import (
	"errors"
	"os"
)

// allocate is not available here: the alert store keeps no reserve.
func allocate(*os.File, int64) error { return errors.ErrUnsupported }

func isUnsupported(err error) bool { return errors.Is(err, errors.ErrUnsupported) }
