package alerting

import (
	"fmt"
	"strconv"
	"strings"
)

func fmtSscan(s string, n *int) (int, error) {
	v, err := strconv.Atoi(strings.TrimSpace(s))
	if err != nil {
		return 0, err
	}
	*n = v
	return 1, nil
}

func errStaleAfter(s string) error {
	return fmt.Errorf("invalid stale.after %q: want a number of missed intervals (3) or a duration (2m)", s)
}
