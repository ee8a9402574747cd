package alerting

import (
	"errors"
	"testing"
)

// TestActionsRefuseFormatCharactersInNames: a name with an invisible
// format character (Unicode Cf) would read as someone else's in the
// record, or two different names as the same: refused, through the
// engine and the API, and nothing changes. Names in any script pass.
func TestActionsRefuseFormatCharactersInNames(t *testing.T) {
	s := newSyncEngine(t, "", quietRules, 0)
	s.poll("GD-101", 30)
	list, _ := s.e.Alerts(false)
	id := list[0].ID
	before := len(s.notes())
	for _, by := range []string{
		"\u202e三张",       // right-to-left override
		"张\u200b三",       // zero-width space
		"张\u200d三",       // zero-width joiner
		"\ufeff张三",       // byte order mark / zero-width no-break space
		"zhang\u00adsan", // soft hyphen
		"张三\u2066",       // left-to-right isolate
	} {
		if !validActor("张三", "") || validActor(by, "") {
			t.Errorf("validActor(%q) = true, want false", by)
		}
		if _, err := s.e.Ack(id, by, ""); !errors.Is(err, ErrByNotPrintable) {
			t.Errorf("Ack by %q: %v, want ErrByNotPrintable", by, err)
		}
	}
	api := s.serveAPI()
	for _, action := range []string{"ack", "shelve", "unshelve", "reset"} {
		if code, resp := api("POST", "/api/v1/alerts/"+id+"/"+action, `{"by":"\u202e三张","reason":"x","for":"1h"}`); code != 400 {
			t.Errorf("%s by a right-to-left override: %d %s, want 400", action, code, resp)
		}
	}
	if got := s.notes()[before:]; len(got) != 0 {
		t.Errorf("notifications after refused actions: %q", got)
	}
	for _, by := range []string{"张三", "Zhang San", "Ολγα", "محمد"} {
		if !validActor(by, "说明\u200b可以") {
			t.Errorf("validActor(%q) = false, want true", by)
		}
	}
	if _, err := s.e.Ack(id, "值班员 李四", ""); err != nil {
		t.Errorf("a plain name: %v", err)
	}
}
