package finalwrite

import (
	"context"
	"testing"
)

func TestAllowed(t *testing.T) {
	bg := context.Background()
	allowed, deny := Allow(bg)
	denied, denyAll := Allow(bg)
	denyAll()
	tests := []struct {
		name string
		ctx  context.Context
		want bool
	}{
		{"a plain context allows nothing", bg, false},
		{"a mark without a permission is not enough", Mark(bg), false},
		{"a permission without a mark is not enough", allowed, false},
		{"a mark under a permission allows the write", Mark(allowed), true},
		{"a permission given after the mark covers it too", func() context.Context { c, _ := Allow(Mark(bg)); return c }(), true},
		{"a withdrawn permission allows nothing", Mark(denied), false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := Allowed(tt.ctx); got != tt.want {
				t.Errorf("Allowed = %v, want %v", got, tt.want)
			}
		})
	}
	t.Run("denial covers the contexts derived before it", func(t *testing.T) {
		final := Mark(allowed)
		deny()
		if Allowed(final) {
			t.Error("a write marked before the denial is still allowed")
		}
	})
}
