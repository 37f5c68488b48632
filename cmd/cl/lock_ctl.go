package main

import (
	"fmt"

	"github.com/celeroot/celeroot/deploy"
	"github.com/celeroot/celeroot/queue"
)

// The deploy lock's manual controls: `cl host deploy --force-unlock` and
// `cl apply --abort`.

func (c *HostDeployCmd) unlockOnly(a *App) error {
	_, q, err := loadQueue(a)
	if err != nil {
		return err
	}
	defer q.Close()
	return forceUnlock(a, q, c.ForceUnlock)
}

func forceUnlock(a *App, q *queue.Queue, id string) error {
	info, err := deploy.ForceUnlock(a.Ctx, q, id)
	if err != nil {
		return err
	}
	if info == nil {
		fmt.Fprintln(a.Stderr, "the deploy lock was not held")
		return nil
	}
	fmt.Fprintf(a.Stderr, "cleared the deploy lock %s (%s, deploying %s since %s)\n", info.ID, info.Holder,
		deploy.ShortVersion(info.Version), info.Started.Format("2006-01-02 15:04:05"))
	return nil
}

// abort clears the lock of the apply or deploy in progress: its holder
// sees the lock lost and stops (hosts in flight keep or get back their old
// release).
func (c *ApplyCmd) abort(a *App) error {
	_, q, err := loadQueue(a)
	if err != nil {
		return err
	}
	defer q.Close()
	info, _, err := deploy.ReadLock(a.Ctx, q)
	if err != nil {
		return err
	}
	if info == nil {
		fmt.Fprintln(a.Stderr, "no apply or deploy in progress")
		return nil
	}
	if _, err := deploy.ForceUnlock(a.Ctx, q, info.ID); err != nil {
		return err
	}
	fmt.Fprintf(a.Stdout, "aborted %s (%s, %s since %s): it stops now; hosts in flight keep or get back their old release\n",
		info.ID, info.Command, info.Holder, info.Started.Format("15:04:05"))
	return nil
}
