package main

import (
	"io"
	"os"

	"github.com/schollz/progressbar/v3"
	"golang.org/x/term"
)

// isTerminal reports whether w is a terminal.
func isTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	return ok && term.IsTerminal(int(f.Fd()))
}

// newProgress returns a progress callback that draws a bar on w when w is
// a terminal, and does nothing otherwise: piped output holds only the
// result. total < 0 draws a spinner. finish clears the bar.
func newProgress(w io.Writer, desc string, total int64) (update func(done, total int64), finish func()) {
	if !isTerminal(w) {
		return func(int64, int64) {}, func() {}
	}
	bar := progressbar.NewOptions64(total,
		progressbar.OptionSetWriter(w),
		progressbar.OptionSetDescription(desc),
		progressbar.OptionShowCount(),
		progressbar.OptionThrottle(100_000_000),
		progressbar.OptionClearOnFinish(),
	)
	return func(done, total int64) {
			if total > 0 {
				bar.ChangeMax64(total)
			}
			bar.Set64(done)
		}, func() {
			bar.Finish()
		}
}

// terminalSize returns the columns and rows of the terminal w is, or 0, 0.
func terminalSize(w io.Writer) (width, height int) {
	f, ok := w.(*os.File)
	if !ok {
		return 0, 0
	}
	width, height, err := term.GetSize(int(f.Fd()))
	if err != nil {
		return 0, 0
	}
	return width, height
}
