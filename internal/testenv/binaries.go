package testenv

import (
	"bufio"
	"debug/buildinfo"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
)

const modulePath = "github.com/hazardgw/hazardgw"

const installHint = "run scripts/setup.sh (or `make test`, which runs it) to install it, " +
	"or point %s at the binary"

// findBinary looks for a server binary: the environment variable env, then
// name on PATH, then each fallback path.
func findBinary(name, env string, fallbacks ...string) (string, error) {
	if p := os.Getenv(env); p != "" {
		if !isExecutable(p) {
			return "", fmt.Errorf("%s=%s is not an executable file; "+installHint, env, p, env)
		}
		return p, nil
	}
	if p, err := exec.LookPath(name); err == nil {
		return p, nil
	}
	for _, p := range fallbacks {
		if p != "" && isExecutable(p) {
			return p, nil
		}
	}
	looked := append([]string{"$" + env, "PATH"}, fallbacks...)
	return "", fmt.Errorf("%s not found (looked at %s); "+installHint,
		name, strings.Join(looked, ", "), env)
}

func isExecutable(p string) bool {
	fi, err := os.Stat(p)
	return err == nil && fi.Mode().IsRegular() && fi.Mode().Perm()&0o111 != 0
}

func mosquittoBinary() (string, error) {
	return findBinary("mosquitto", "HAZARDGW_MOSQUITTO", "/usr/sbin/mosquitto", "/usr/local/sbin/mosquitto")
}

func influxdBinary() (string, error) {
	var fallbacks []string
	if c := os.Getenv("HAZARDGW_CACHE"); c != "" {
		if !filepath.IsAbs(c) {
			if root, err := repoRoot(); err == nil {
				c = filepath.Join(root, c)
			}
		}
		fallbacks = append(fallbacks, filepath.Join(c, "bin", "influxd"))
	}
	if root, err := repoRoot(); err == nil {
		fallbacks = append(fallbacks, filepath.Join(root, ".cache", "bin", "influxd"))
	}
	p, err := findBinary("influxd", "HAZARDGW_INFLUXD", fallbacks...)
	if err != nil {
		return "", err
	}
	if err := checkInfluxd(p); err != nil {
		return "", err
	}
	return p, nil
}

var influxdChecked sync.Map // path -> error (nil when fine)

// checkInfluxd rejects an influxd that is not 1.x: InfluxDB 2 and 3 take
// different flags and configuration. Binaries built by `go install`, as
// scripts/setup.sh does, carry their module version; others are accepted.
func checkInfluxd(p string) error {
	if v, ok := influxdChecked.Load(p); ok {
		err, _ := v.(error)
		return err
	}
	var err error
	if info, rerr := buildinfo.ReadFile(p); rerr == nil {
		path, ver := info.Main.Path, info.Main.Version
		if strings.HasPrefix(path, "github.com/influxdata/influxdb/") || // .../v2
			(path == "github.com/influxdata/influxdb" && strings.HasPrefix(ver, "v") && !strings.HasPrefix(ver, "v1.")) {
			err = fmt.Errorf("influxd at %s is %s %s; the tests need InfluxDB 1.8 "+
				"(go install github.com/influxdata/influxdb/cmd/influxd@v1.8.10)", p, path, ver)
		}
	}
	influxdChecked.Store(p, err)
	return err
}

var rootOnce = sync.OnceValues(findRepoRoot)

// repoRoot returns the directory holding hazardgw's go.mod.
func repoRoot() (string, error) { return rootOnce() }

func findRepoRoot() (string, error) {
	// go test runs in the package's directory, somewhere below the root.
	if wd, err := os.Getwd(); err == nil {
		for dir := wd; ; dir = filepath.Dir(dir) {
			if isModuleRoot(dir) {
				return dir, nil
			}
			if filepath.Dir(dir) == dir {
				break
			}
		}
	}
	// A test binary run from elsewhere: this file's directory, when the
	// build kept source paths.
	if _, file, _, ok := runtime.Caller(0); ok {
		dir := filepath.Join(filepath.Dir(file), "..", "..")
		if isModuleRoot(dir) {
			return filepath.Clean(dir), nil
		}
	}
	return "", errors.New("cannot find the hazardgw repository root")
}

func isModuleRoot(dir string) bool {
	f, err := os.Open(filepath.Join(dir, "go.mod"))
	if err != nil {
		return false
	}
	defer f.Close()
	s := bufio.NewScanner(f)
	for s.Scan() {
		if line := strings.TrimSpace(s.Text()); strings.HasPrefix(line, "module ") {
			return strings.Trim(strings.TrimSpace(strings.TrimPrefix(line, "module ")), `"`) == modulePath
		}
	}
	return false
}
