package cliquet

// The in-process backends, so that the default settings (memory everywhere) work out of the
// box. Other backends are linked in by importing their packages.
import (
	_ "github.com/cliquet-go/cliquet/cache/memory"
	_ "github.com/cliquet-go/cliquet/permission/memory"
	_ "github.com/cliquet-go/cliquet/storage/memory"
)
