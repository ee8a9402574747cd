// Command modproxy lays out a Go module proxy directory for one module version
// built from an unpacked source tree, and prints the tree's h1: hash.
//
// It exists because the module proxy reachable on some build machines refuses
// github.com/goburrow/modbus and github.com/goburrow/serial, while Debian ships
// their exact sources. The hash is checked against go.sum by the go command, so
// a tree that differs from the published module is rejected, never used.
//
//	go run . -module github.com/goburrow/modbus -version v0.1.0 -src DIR -out PROXYDIR
package main

import (
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"golang.org/x/mod/module"
	"golang.org/x/mod/sumdb/dirhash"
	"golang.org/x/mod/zip"
)

func main() {
	mod := flag.String("module", "", "module path")
	ver := flag.String("version", "", "module version")
	src := flag.String("src", "", "unpacked source directory")
	out := flag.String("out", "", "proxy directory to write")
	flag.Parse()
	if err := run(*mod, *ver, *src, *out); err != nil {
		fmt.Fprintln(os.Stderr, "modproxy:", err)
		os.Exit(1)
	}
}

func run(mod, ver, src, out string) error {
	if mod == "" || ver == "" || src == "" || out == "" {
		return fmt.Errorf("-module, -version, -src and -out are required")
	}
	esc, err := module.EscapePath(mod)
	if err != nil {
		return err
	}
	dir := filepath.Join(out, esc, "@v")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	mv := module.Version{Path: mod, Version: ver}
	zipPath := filepath.Join(dir, ver+".zip")
	f, err := os.Create(zipPath)
	if err != nil {
		return err
	}
	if err := zip.CreateFromDir(f, mv, src); err != nil {
		f.Close()
		return fmt.Errorf("zip %s: %w", src, err)
	}
	if err := f.Close(); err != nil {
		return err
	}
	gomod := "module " + mod + "\n"
	if b, err := os.ReadFile(filepath.Join(src, "go.mod")); err == nil {
		gomod = string(b)
	}
	files := map[string]string{
		ver + ".mod":  gomod,
		ver + ".info": fmt.Sprintf("{\"Version\":%q,\"Time\":\"2018-01-01T00:00:00Z\"}\n", ver),
	}
	for name, body := range files {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(body), 0o644); err != nil {
			return err
		}
	}
	list := filepath.Join(dir, "list")
	old, _ := os.ReadFile(list)
	if !strings.Contains(string(old), ver+"\n") {
		if err := os.WriteFile(list, append(old, []byte(ver+"\n")...), 0o644); err != nil {
			return err
		}
	}
	h, err := dirhash.HashZip(zipPath, dirhash.Hash1)
	if err != nil {
		return err
	}
	fmt.Printf("%s %s %s\n", mod, ver, h)
	return nil
}
