// Package termtext makes text from outside cl safe and tidy on a terminal:
// host names, worker names, log lines, task output, commit messages and
// anything else read from hosts, Redis or git.
//
// Clean shows every control character (C0 but tab, DEL, C1), every
// bidirectional control and every byte that is not UTF-8 as a visible
// escape (\x1b, \u202e, \xff), so an ANSI CSI or OSC sequence hidden in a
// host's text cannot clear the screen, move the cursor, set the window
// title or write the clipboard, and a carriage return or a right-to-left
// override cannot make a line read as something else. Printable UTF-8 is
// kept as it is.
//
// Width, Truncate and Pad measure text in terminal cells (East Asian wide
// characters and emoji take two, combining marks none), and Table lays out
// columns aligned by that width. They expect cleaned text.
//
// The package imports nothing of the project; cmd/cl (tables, cl task logs,
// cl cluster logs, cl cluster status), monitor and observe use it.
package termtext
