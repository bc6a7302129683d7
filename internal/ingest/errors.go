package ingest

import "fmt"

// LineError is a problem at one line of an input file. Line is 1-based; 0
// means the problem is with the file as a whole.
type LineError struct {
	Line   int
	Reason string
}

func (e *LineError) Error() string {
	if e.Line == 0 {
		return e.Reason
	}
	return fmt.Sprintf("line %d: %s", e.Line, e.Reason)
}
