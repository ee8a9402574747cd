package testenv

import (
	"io"
	"os"
	"testing"
)

func TestPtyPair(t *testing.T) {
	a, b := PtyPair(t)
	fa, err := os.OpenFile(a, os.O_RDWR, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer fa.Close()
	fb, err := os.OpenFile(b, os.O_RDWR, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer fb.Close()
	frame := []byte{0x01, 0x03, 0x00, 0x00, 0x00, 0x01, 0x84, 0x0A} // raw: no line discipline may touch it
	if _, err := fa.Write(frame); err != nil {
		t.Fatal(err)
	}
	got := make([]byte, len(frame))
	if _, err := io.ReadFull(fb, got); err != nil {
		t.Fatal(err)
	}
	if string(got) != string(frame) {
		t.Errorf("read %x, wrote %x", got, frame)
	}
}
