package alerting

import (
	"errors"
	"os"
	"syscall"
)

// allocate allocates the blocks of f from 0 to end; blocks already there
// stay as they are, and the file grows to end if it is shorter.
func allocate(f *os.File, end int64) error {
	for {
		err := syscall.Fallocate(int(f.Fd()), 0, 0, end)
		if !errors.Is(err, syscall.EINTR) {
			return err
		}
	}
}

func isUnsupported(err error) bool {
	return errors.Is(err, syscall.EOPNOTSUPP) || errors.Is(err, syscall.ENOSYS)
}
