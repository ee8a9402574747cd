package alerting

import (
	"errors"
	"testing"
	"time"
)

// TestActionsRefuseUnreadableNames: an acknowledgement or other action must
// name someone readably: a name with control characters or with an
// invisible format character (Unicode Cf: it would read as someone else's
// in the record, or two names as the same), or text that is not UTF-8, is
// refused (400 through the API) and changes nothing. Names in any script,
// and comments with line breaks or format characters, pass.
func TestActionsRefuseUnreadableNames(t *testing.T) {
	s := newSyncEngine(t, "", quietRules, 0)
	s.poll("GD-101", 30)
	list, _ := s.e.Alerts(false)
	id := list[0].ID
	before := len(s.notes())
	for _, tc := range []struct{ by, comment string }{
		{"\x00", ""}, {"张三\n李四", ""}, {"\x1b[31m张三", ""}, {"\xff\xfe", ""}, {"张三", "\xc3\x28"},
		{"\u202e三张", ""},       // right-to-left override
		{"张\u200b三", ""},       // zero-width space
		{"张\u200d三", ""},       // zero-width joiner
		{"\ufeff张三", ""},       // byte order mark / zero-width no-break space
		{"zhang\u00adsan", ""}, // soft hyphen
		{"张三\u2066", ""},       // left-to-right isolate
	} {
		if validActor(tc.by, tc.comment) {
			t.Errorf("validActor(%q, %q) = true, want false", tc.by, tc.comment)
		}
		if _, err := s.e.Ack(id, tc.by, tc.comment); !errors.Is(err, ErrByNotPrintable) {
			t.Errorf("Ack by %q comment %q: %v, want ErrByNotPrintable", tc.by, tc.comment, err)
		}
		if _, err := s.e.Shelve(id, tc.by, tc.comment, time.Hour); !errors.Is(err, ErrByNotPrintable) {
			t.Errorf("Shelve by %q comment %q: %v, want ErrByNotPrintable", tc.by, tc.comment, err)
		}
	}
	api := s.serveAPI()
	for _, body := range []string{"{\"by\":\"\xff\"}", `{"by":"\u0007"}`, "{\"by\":\"张三\",\"comment\":\"\xc3\x28\"}", `{"by":"\u202e三张","reason":"x","for":"1h"}`} {
		for _, action := range []string{"ack", "shelve", "unshelve", "reset"} {
			if code, resp := api("POST", "/api/v1/alerts/"+id+"/"+action, body); code != 400 {
				t.Errorf("%s %q: %d %s, want 400", action, body, code, resp)
			}
		}
	}
	for _, by := range []string{"张三", "Zhang San", "Ολγα", "محمد"} {
		if !validActor(by, "说明\u200b可以") {
			t.Errorf("validActor(%q) = false, want true", by)
		}
	}
	if _, err := s.e.Ack(id, "值班员 张三", "多行\n说明\t可以"); err != nil {
		t.Errorf("a comment with line breaks: %v", err)
	}
	if got := s.notes()[before:]; len(got) != 1 {
		t.Errorf("notifications after the refused actions and one good ack: %q, want one alert.acknowledged", got)
	}
}
