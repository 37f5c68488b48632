package supervise

import (
	"os"
	"sync"
)

// maxLog is the size at which the log is rotated to <log>.1.
const maxLog = 10 << 20

// rotatingLog appends to a file and rotates it once it grows past maxLog.
type rotatingLog struct {
	path string
	mu   sync.Mutex
	f    *os.File
	size int64
}

func openLog(path string) (*rotatingLog, error) {
	l := &rotatingLog{path: path}
	return l, l.open()
}

func (l *rotatingLog) open() error {
	f, err := os.OpenFile(l.path, os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o600)
	if err != nil {
		return err
	}
	st, err := f.Stat()
	if err != nil {
		f.Close()
		return err
	}
	l.f, l.size = f, st.Size()
	return nil
}

func (l *rotatingLog) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.size+int64(len(p)) > maxLog && l.size > 0 {
		l.f.Close()
		_ = os.Rename(l.path, l.path+".1")
		if err := l.open(); err != nil {
			return 0, err
		}
	}
	n, err := l.f.Write(p)
	l.size += int64(n)
	return n, err
}

func (l *rotatingLog) Close() error {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.f.Close()
}
